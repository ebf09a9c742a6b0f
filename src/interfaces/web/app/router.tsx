// Client-side navigation: paths of the app change without a reload; the server answers index.html for each.

/** Moves to a path of the app without reloading; the server answers index.html for each of them too. */
export function navigate(path: string): void {
  if (path === location.pathname + location.search) return;
  history.pushState(null, '', path);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** A link that navigates inside the app (ctrl/shift/middle click still open a new tab). */
export function Link({ href, children, ...rest }: { href: string; children: preact.ComponentChildren; class?: string; 'aria-current'?: 'page' | undefined }) {
  const onClick = (event: MouseEvent) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}
