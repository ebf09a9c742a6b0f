// Assertion helpers shared by tests: the shape every refused input must have.
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';

/** For assert.throws/rejects: an InvalidArgumentError naming `argument`, with a message matching `pattern`. */
export function isInvalidArgument(argument: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(InvalidArgumentError.isInstance(error), `expected InvalidArgumentError, got ${String(error)}`);
    assert.equal(error.argument, argument);
    assert.match(error.message, pattern);
    return true;
  };
}
