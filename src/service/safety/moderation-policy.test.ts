// Moderation policy files: the built-in default, YAML and JSON files, `off`, and errors that name the file, line, field, value and fix.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isInvalidArgument } from '../../testing/assertions.js';
import { defaultModerationPolicy, loadModerationPolicy, moderationCategories, parseModerationPolicy, parseModerationPolicyText, type ModerationPolicy } from './moderation-policy.js';

let work: string;
before(async () => (work = await mkdtemp(join(tmpdir(), 'pixelpipe-policy-'))));
after(() => rm(work, { recursive: true, force: true }));

const strictYaml = `# what the team allows
terms:
  block: [gore, "severed   head"]
  flag: [blood]
patterns:
  - { pattern: '\\bkill(ing|ed)?\\b', action: flag, category: violence }
  - pattern: clothe[sd]|clothing
    action: block
    in: negativePrompt
categories:
  sexual/minors: { action: block, threshold: 0.01 }
  sexual: block
otherCategories: allow
prompt:
  classifier: llama-guard
  baseURL: http://127.0.0.1:11434/v1/
  model: llama-guard3:8b
image:
  classifier: none
`;

test('the built-in policy checks images with nsfwjs (Porn and Hentai blocked at 0.85, Sexy flagged at 0.9) and nothing else', async () => {
  assert.deepEqual(defaultModerationPolicy, {
    name: 'default',
    terms: { block: [], flag: [] },
    patterns: [],
    categories: {},
    otherCategories: 'flag',
    prompt: { classifier: 'none' },
    image: { classifier: 'nsfwjs', model: 'mobilenet_v2', classes: { Porn: { action: 'block', threshold: 0.85 }, Hentai: { action: 'block', threshold: 0.85 }, Sexy: { action: 'flag', threshold: 0.9 } } },
  });
  assert.equal(await loadModerationPolicy('default'), defaultModerationPolicy);
  assert.equal(await loadModerationPolicy('off'), 'off');
});

test('a YAML file: defaults filled in, shorthand rules expanded, the name from the file, the base URL without its slash', async () => {
  const file = join(work, 'strict.yaml');
  await writeFile(file, strictYaml);
  const policy = (await loadModerationPolicy(file)) as ModerationPolicy;
  assert.equal(policy.name, 'strict');
  assert.deepEqual(policy.terms, { block: ['gore', 'severed   head'], flag: ['blood'] });
  assert.deepEqual(policy.patterns, [
    { pattern: '\\bkill(ing|ed)?\\b', action: 'flag', category: 'violence', in: 'prompt' },
    { pattern: 'clothe[sd]|clothing', action: 'block', in: 'negativePrompt' },
  ]);
  assert.deepEqual(policy.categories, { 'sexual/minors': { action: 'block', threshold: 0.01 }, sexual: { action: 'block' } });
  assert.deepEqual(policy.prompt, { classifier: 'llama-guard', baseURL: 'http://127.0.0.1:11434/v1', model: 'llama-guard3:8b' });
  assert.deepEqual(policy.image, { classifier: 'none' });
  // Parsed again (as stored with a key), it is the same policy.
  assert.deepEqual(parseModerationPolicy(JSON.parse(JSON.stringify(policy))), policy);

  // JSON is YAML too; a policy that names itself keeps its name; a file of just `off` is off.
  const json = join(work, 'team.json');
  await writeFile(json, JSON.stringify({ name: 'team A', prompt: { classifier: 'openai' } }));
  const fromJson = (await loadModerationPolicy(json)) as ModerationPolicy;
  assert.equal(fromJson.name, 'team A');
  assert.deepEqual(fromJson.prompt, { classifier: 'openai', baseURL: 'https://api.openai.com/v1', model: 'omni-moderation-latest', apiKeyVariable: 'OPENAI_API_KEY' });
  assert.deepEqual(fromJson.image, defaultModerationPolicy.image, 'a file without `image` keeps the built-in image check');
  await writeFile(join(work, 'off.yaml'), 'off\n');
  assert.equal(await loadModerationPolicy(join(work, 'off.yaml')), 'off');
});

test('an unknown category is refused at its line, listing the known ones', () => {
  const text = strictYaml.replace('  sexual: block', '  nudity: block');
  assert.throws(() => parseModerationPolicyText(text, 'policies/strict.yaml'), (error: unknown) => {
    isInvalidArgument('categories.nudity', /^policies\/strict\.yaml:12:3: moderation policy `categories\.nudity` is no known category; known: harassment, /)(error);
    for (const category of moderationCategories) assert.ok((error as Error).message.includes(category), category);
    return true;
  });
  assert.throws(() => parseModerationPolicyText(strictYaml.replace('category: violence', 'category: gore'), 'p.yaml'), isInvalidArgument('patterns.0.category', /^p\.yaml:6:51: moderation policy `patterns\.0\.category` must be a known category: harassment, .*, got "gore"$/));
});

test('each broken file names the file, the line, the field, the value and the fix', () => {
  const cases: [string, string, RegExp][] = [
    [strictYaml.replace("'\\bkill(ing|ed)?\\b'", "'kill(ing'"), 'patterns.0.pattern', /^p\.yaml:6:7: moderation policy `patterns\.0\.pattern` is no valid regular expression \(.*\); fix it, or write the text as a term, got "kill\(ing"$/],
    [strictYaml.replace('threshold: 0.01', 'threshold: 5'), 'categories.sexual/minors.threshold', /^p\.yaml:11:35: moderation policy `categories\.sexual\/minors\.threshold` must be a number from 0 to 1, got 5$/],
    [strictYaml.replace('action: block\n    in', 'action: deny\n    in'), 'patterns.1.action', /^p\.yaml:8:5: moderation policy `patterns\.1\.action` must be one of allow, flag, block, got "deny"$/],
    [strictYaml.replace('classifier: llama-guard', 'classifier: perspective'), 'prompt.classifier', /^p\.yaml:15:3: moderation policy `prompt\.classifier` must be one of none, openai, llama-guard, got "perspective"$/],
    [strictYaml.replace('  model: llama-guard3:8b\n', ''), 'prompt.model', /^p\.yaml:14:1: moderation policy `prompt\.model` is missing; add it$/],
    [strictYaml.replace('otherCategories: allow', 'otherCategorys: allow'), 'otherCategorys', /^p\.yaml:13:1: moderation policy `otherCategorys` is no field here; the fields are name, terms, patterns, categories, otherCategories, prompt, image$/],
    [strictYaml.replace('baseURL: http://127.0.0.1:11434/v1/', 'baseURL: file:///etc/passwd'), 'prompt.baseURL', /must be an http:\/\/ or https:\/\/ URL, got "file:\/\/\/etc\/passwd"$/],
    [strictYaml.replace('  block: [gore, "severed   head"]', '  block: gore'), 'terms.block', /^p\.yaml:3:3: moderation policy `terms\.block` must be a list, got "gore"$/],
    ['image:\n  classifier: nsfwjs\n  classes: { Nude: { action: block, threshold: 0.5 } }\n', 'image.classes.Nude', /is no known nsfwjs class; known: Drawing, Hentai, Neutral, Porn, Sexy$/],
  ];
  for (const [text, field, message] of cases) assert.throws(() => parseModerationPolicyText(text, 'p.yaml'), isInvalidArgument(field, message), field);
});

test('a file that is no policy at all: bad YAML at its line, a list, an unreadable path', async () => {
  assert.throws(() => parseModerationPolicyText('terms:\n  block: [gore\nprompt: none\n', 'bad.yaml'), isInvalidArgument('moderationPolicy', /^bad\.yaml:3:\d+: the moderation policy is not valid YAML or JSON \(.+\); fix the file, or give `off`$/));
  assert.throws(() => parseModerationPolicyText('terms: 1\nterms: 2\n', 'twice.yaml'), isInvalidArgument('moderationPolicy', /^twice\.yaml:2:1: .*Map keys must be unique/));
  assert.throws(() => parseModerationPolicyText('- gore\n', 'list.yaml'), isInvalidArgument('moderationPolicy', /^list\.yaml: a moderation policy must be a mapping of fields .*, or `off`; got \["gore"\]$/));
  await assert.rejects(loadModerationPolicy(join(work, 'missing.yaml')), isInvalidArgument('moderationPolicy', /missing\.yaml cannot be read \(ENOENT\); give a YAML or JSON policy file, `default` or `off`$/));
  // Data from code names its origin instead of a file; without a name it is `custom`.
  assert.throws(() => parseModerationPolicy({ terms: { block: [''] } }), isInvalidArgument('terms.block.0', /^moderationPolicy: moderation policy `terms\.block\.0` must not be empty, got ""$/));
  assert.equal((parseModerationPolicy({}) as ModerationPolicy).name, 'custom');
});
