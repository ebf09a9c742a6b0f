// An image from blob storage: fetched with the API key (an <img src> cannot send it) and shown from a blob: URL.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';

/** The object URL of a blob's bytes while the component is shown; undefined until they arrive, and without a key. */
export function useBlobUrl(blobKey: string | undefined): { url?: string; error?: string } {
  const [state, setState] = useState<{ url?: string; error?: string }>({});
  useEffect(() => {
    setState({});
    if (!blobKey) return;
    const stop = new AbortController();
    let url: string | undefined;
    api
      .blob(blobKey, stop.signal)
      .then((blob) => {
        url = URL.createObjectURL(blob);
        setState({ url });
      })
      .catch((error: unknown) => {
        if (!stop.signal.aborted) setState({ error: (error as Error).message });
      });
    return () => {
      stop.abort();
      if (url) URL.revokeObjectURL(url);
    };
  }, [blobKey]);
  return state;
}

/**
 * Fetches its bytes only once it comes near the viewport, so a history of thousands of tiles asks
 * for the few on screen, not for all of them.
 */
export function BlobImage({ blobKey, alt, width, height, class: className }: { blobKey: string; alt: string; width: number; height: number; class?: string }) {
  const placeholder = useRef<HTMLSpanElement>(null);
  const [near, setNear] = useState(false);
  useEffect(() => {
    const element = placeholder.current;
    if (near || !element) return;
    const observer = new IntersectionObserver((entries) => entries.some((entry) => entry.isIntersecting) && setNear(true), { rootMargin: '300px' });
    observer.observe(element);
    return () => observer.disconnect();
  }, [near]);
  const { url, error } = useBlobUrl(near ? blobKey : undefined);
  if (error) return <span class="image-error">{`Image unavailable: ${error}`}</span>;
  // The size is known from the record, so the layout does not jump when the bytes arrive.
  return url ? <img class={className} src={url} alt={alt} width={width} height={height} /> : <span ref={placeholder} class={`image-loading ${className ?? ''}`} role="img" aria-label={`${alt} (loading)`} />;
}
