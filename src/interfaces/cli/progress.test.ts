import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgressPrinter } from './progress.js';

function capture(isTTY: boolean) {
  const written: string[] = [];
  const stream = { isTTY, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

test('plain lines give each image its own rate and ETA from the call clock', () => {
  const { stream, written } = capture(false);
  const printer = createProgressPrinter(stream, 2);
  printer.update({ imageIndex: 0, step: 1, steps: 2, elapsedMs: 500 });
  printer.update({ imageIndex: 0, step: 2, steps: 2, elapsedMs: 1000 });
  printer.update({ imageIndex: 1, step: 1, steps: 2, elapsedMs: 1250 });
  printer.done();
  assert.deepEqual(written, [
    'image 1/2 step 1/2 · 2.00 steps/s · ETA 00:01\n',
    'image 1/2 step 2/2 · 2.00 steps/s · ETA 00:00\n',
    'image 2/2 step 1/2 · 4.00 steps/s · ETA 00:00\n',
  ]);
});

test('on a terminal one bar is redrawn in place and ends with a newline', () => {
  const { stream, written } = capture(true);
  const printer = createProgressPrinter(stream, 1);
  printer.update({ imageIndex: 0, step: 3, steps: 4, elapsedMs: 30_000 });
  printer.done();
  assert.equal(written.length, 2);
  assert.match(written[0]!, /^\r\[#{18}-{6}\] step 3\/4 · 0\.10 steps\/s · ETA 00:10\x1b\[K$/);
  assert.equal(written[1], '\n');
});
