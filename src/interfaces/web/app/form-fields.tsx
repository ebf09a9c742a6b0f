// What the generate and edit forms share: a labelled control with its help and its error (tied to it for screen
// readers), and putting an API error on the field its `param` names.
import type { JSX, TargetedEvent } from 'preact';
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

/**
 * What a form builds its controls with: `field` (a Field with the form's id prefix and that field's error),
 * `value` (a text control bound to the form's state) and `showError` (an API error at the field `fields` maps
 * its `param` to, else above the form).
 */
export function formControls<Name extends string, ErrorName extends string>(options: {
  prefix: string;
  fields: Record<string, ErrorName>;
  form: Record<Name, string>;
  set: (name: Name, value: string) => void;
  errors: Partial<Record<ErrorName, string>>;
  setErrors: (errors: Partial<Record<ErrorName, string>>) => void;
  setFormError: (message: string) => void;
}) {
  const { prefix, fields, form, set, errors, setErrors, setFormError } = options;
  return {
    showError: (error: unknown) => showApiError(error, { prefix, fields, onFieldError: (name, message) => setErrors({ [name]: message } as Partial<Record<ErrorName, string>>), onFormError: setFormError }),
    field: (name: Name & ErrorName, label: string, input: (props: ControlProps) => JSX.Element, help?: string) => <Field key={name} prefix={prefix} name={name} label={label} error={errors[name]} help={help} input={input} />,
    value: (name: Name) => ({ value: form[name], onInput: (event: TargetedEvent<HTMLInputElement | HTMLTextAreaElement>) => set(name, event.currentTarget.value) }),
  };
}

/** The end of a form: its error without a field, and the submit button, which says so while the form is sent. */
export function FormEnd({ error, busy, label }: { error?: string; busy: boolean; label: string }) {
  return (
    <>
      {error ? (
        <p role="alert" class="error">
          {error}
        </p>
      ) : null}
      <div class="actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Submitting…' : label}
        </button>
      </div>
    </>
  );
}
