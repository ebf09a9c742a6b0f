// Warnings: settings a model could not honour as given. Kept in every result and record, never thrown.

/** A call option the model ignored or changed. */
export type ImageModelWarning =
  | {
      /** The model cannot honour this setting at all; it was ignored. */
      type: 'unsupported-setting';
      /** The call option's name, e.g. `seed`. */
      setting: string;
      /** Why, and what happened instead. */
      details?: string;
    }
  | {
      /** The setting was honoured only in part, e.g. a prompt cut to the text encoder's 77 tokens. */
      type: 'adjusted-setting';
      /** The call option's name, e.g. `prompt`. */
      setting: string;
      /** What was changed and why. */
      details: string;
    }
  | {
      /** Anything else worth keeping next to the image. */
      type: 'other';
      /** What happened. */
      message: string;
    };
