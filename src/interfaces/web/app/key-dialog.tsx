// Asks for an API key when the server answers 401; the key is kept in localStorage and sent as a bearer token.
import { useEffect, useRef, useState } from 'preact/hooks';

export function KeyDialog({ reason, hadKey, onSave, onClose }: { reason: string; hadKey: boolean; onSave: (key: string) => void; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [key, setKey] = useState('');
  const [problem, setProblem] = useState<string | undefined>();

  useEffect(() => {
    // A modal <dialog> keeps focus inside itself and makes the page behind it inert.
    const element = dialog.current!;
    if (!element.open) element.showModal();
    return () => element.close();
  }, []);

  const submit = (event: Event) => {
    event.preventDefault();
    const trimmed = key.trim();
    if (!trimmed || /\s/.test(trimmed)) {
      setProblem('Paste the whole key: it has no spaces. Create one with `pixelpipe keys create --name NAME`.');
      return;
    }
    onSave(trimmed);
  };

  return (
    <dialog ref={dialog} class="key-dialog" aria-labelledby="key-title" aria-describedby="key-reason" onCancel={onClose}>
      <form onSubmit={submit} noValidate>
        <h2 id="key-title">{hadKey ? 'This API key was refused' : 'This server needs an API key'}</h2>
        <p id="key-reason">{reason}</p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={key}
          onInput={(event) => setKey(event.currentTarget.value)}
          aria-invalid={problem ? true : undefined}
          aria-describedby={problem ? 'api-key-error' : 'api-key-help'}
          autoFocus
        />
        {problem ? (
          <p id="api-key-error" class="field-error">
            {problem}
          </p>
        ) : (
          <p id="api-key-help" class="help">
            Kept in this browser only (localStorage) and sent as <code>Authorization: Bearer</code>.
          </p>
        )}
        <div class="actions">
          <button type="submit">Use this key</button>
          <button type="button" class="quiet" onClick={onClose}>
            Not now
          </button>
        </div>
      </form>
    </dialog>
  );
}
