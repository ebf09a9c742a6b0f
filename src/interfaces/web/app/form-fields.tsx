// What the generate and edit forms share: a labelled control with its help and its error (tied to it for screen
// readers), and putting an API error on the field its `param` names.
import type { JSX } from 'preact';
import { ApiError } from './api.js';

/** The props a field gives its control: its id, and whether (and by what) it is described and invalid. */
export type ControlProps = { id: string; 'aria-invalid'?: true; 'aria-describedby'?: string };

/** A field of a form whose controls have ids `${prefix}-${name}`. */
export function Field({ prefix, name, label, error, help, input }: { prefix: string; name: string; label: string; error?: string; help?: string; input: (props: ControlProps) => JSX.Element }) {
  const id = `${prefix}-${name}`;
  const describedBy = [error ? `${id}-error` : '', help ? `${id}-help` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field field-${name}`}>
      <label for={id}>{label}</label>
      {input({ id, ...(error ? { 'aria-invalid': true } : {}), ...(describedBy ? { 'aria-describedby': describedBy } : {}) })}
      {help ? (
        <p id={`${id}-help`} class="help">
          {help}
        </p>
      ) : null}
      {error ? (
        <p id={`${id}-error`} class="field-error" data-field={name}>
          {error}
        </p>
      ) : null}
    </div>
  );
}

/**
 * Shows an API error at the field its `param` names (by `fields`, keyed by the param or its first part) and focuses
 * that field's control; anything else goes to `onFormError`. A 401 is the key dialog's to show.
 */
export function showApiError<Name extends string>(error: unknown, { prefix, fields, onFieldError, onFormError }: { prefix: string; fields: Record<string, Name>; onFieldError: (name: Name, message: string) => void; onFormError: (message: string) => void }): void {
  if (error instanceof ApiError && error.param) {
    const name = fields[error.param] ?? fields[error.param.split('.')[0]!];
    if (name) {
      onFieldError(name, error.message);
      document.getElementById(`${prefix}-${name}`)?.focus();
      return;
    }
  }
  if (!(error instanceof ApiError && error.status === 401)) onFormError((error as Error).message);
}

/** Shows a form's own findings at their fields and focuses the first one's control; true when there are none. */
export function passesCheck<Name extends string>(found: Partial<Record<Name, string>>, { prefix, setErrors, setFormError }: { prefix: string; setErrors: (errors: Partial<Record<Name, string>>) => void; setFormError: (message: string | undefined) => void }): boolean {
  setErrors(found);
  setFormError(undefined);
  const first = Object.keys(found)[0];
  if (first) document.getElementById(`${prefix}-${first}`)?.focus();
  return first === undefined;
}
