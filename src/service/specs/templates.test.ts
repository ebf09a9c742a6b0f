// Tests of template parsing and rendering: variables, literal braces and malformed placeholders.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isComplaint, parseTemplate, renderTemplate, type Template } from './templates.js';

function parsed(source: string): Template {
  const result = parseTemplate(source);
  assert.ok(!isComplaint(result), `expected ${source} to parse`);
  return result;
}

test('a template lists its variables once, in order of first use', () => {
  assert.deepEqual(parsed('A {product} in {city}, {product}').variables, ['product', 'city']);
});

test('{{ and }} render as literal braces and are not variables', () => {
  const template = parsed('{{"sale": {percent}}} off {{}}');
  assert.deepEqual(template.variables, ['percent']);
  assert.equal(renderTemplate(template, (name) => ({ percent: '20%' })[name]!), '{"sale": 20%} off {}');
});

test('variable values are inserted as they are, never read as templates', () => {
  assert.equal(renderTemplate(parsed('x-{a}'), () => '{b}'), 'x-{b}');
});

test('malformed placeholders are complaints that say where and how to write them', () => {
  assert.deepEqual(parseTemplate('a {city'), { problem: '"a {city" has a { at character 3 that is never closed', fix: 'close it as {name}, or write {{ for a literal brace' });
  assert.deepEqual(parseTemplate('a } b'), { problem: '"a } b" has a lone } at character 3', fix: 'write }} for a literal brace' });
  assert.deepEqual(parseTemplate('{ city }'), {
    problem: '"{ city }" has "{ city }", which is not a variable name',
    fix: 'write {name} with a letter or _ first and no spaces, or {{ and }} for literal braces',
  });
});
