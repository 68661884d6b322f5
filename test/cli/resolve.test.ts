/** Model and dataset resolution: flag, then env, then ../shared, then the hub; a clear message otherwise. Never downloads. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { looksLikeHubId, packageRoot, resolveDataset, resolveModel, sharedRoots } from '../../src/pretrained/resolve.ts';
import type { HubDownloader, ResolveOptions } from '../../src/pretrained/resolve.ts';
import { SoftpromptError } from '../../src/errors.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

let tmp: string;
let empty: string;
let work: string;
let otherModel: string;
const noHub: HubDownloader = () => Promise.reject(new Error('offline (test)'));

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'softprompt-cli-resolve-'));
  empty = join(tmp, 'empty-shared');
  mkdirSync(empty);
  // cwd two levels down so that its ../shared (tmp/a/shared) does not exist
  work = join(tmp, 'a', 'work');
  mkdirSync(work, { recursive: true });
  otherModel = join(tmp, 'other-model');
  mkdirSync(otherModel);
  writeFileSync(join(otherModel, 'config.json'), '{}');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Options that see nothing on disk except what a test adds: empty shared, an isolated cwd and package root, no env. */
function isolated(extra: ResolveOptions = {}): ResolveOptions {
  return { env: { SOFTPROMPT_SHARED: empty }, cwd: work, packageRoot: work, download: noHub, ...extra };
}

describe('resolveModel', () => {
  test('order: flag, then SOFTPROMPT_MODEL, then ../shared', async () => {
    const env = { SOFTPROMPT_MODEL: otherModel, SOFTPROMPT_SHARED: SHARED };
    assert.deepEqual(await resolveModel(STORIES, isolated({ env })), { path: resolve(STORIES), source: 'flag' });
    assert.deepEqual(await resolveModel(undefined, isolated({ env })), { path: otherModel, source: 'env' });
    assert.deepEqual(await resolveModel(undefined, isolated({ env: { SOFTPROMPT_SHARED: SHARED } })), {
      path: resolve(SHARED, 'models', 'stories260K'),
      source: 'shared',
    });
  });

  test('../shared beside the working directory or the checkout', async () => {
    const beside = join(tmp, 'checkout');
    mkdirSync(beside, { recursive: true });
    const model = join(tmp, 'shared', 'models', 'stories260K');
    mkdirSync(model, { recursive: true });
    writeFileSync(join(model, 'config.json'), '{}');
    writeFileSync(join(model, 'tokenizer.json'), '{}');
    assert.deepEqual(await resolveModel(undefined, isolated({ cwd: beside })), { path: model, source: 'shared' });
    assert.deepEqual(await resolveModel(undefined, isolated({ packageRoot: beside })), { path: model, source: 'shared' });
    rmSync(join(tmp, 'shared'), { recursive: true });
    assert.equal(sharedRoots({ env: {}, cwd: beside, packageRoot: packageRoot() })[0], join(tmp, 'shared'));
  });

  test('nothing found: the message says what to provide and where it looked', async () => {
    await assert.rejects(resolveModel(undefined, isolated()), (e: unknown) => {
      assert.ok(e instanceof SoftpromptError);
      assert.match(e.message, /no model found/);
      assert.match(e.message, /--model PATH/);
      assert.match(e.message, /SOFTPROMPT_MODEL=PATH/);
      assert.match(e.message, /config\.json, model\.safetensors/);
      assert.match(e.message, /tokenizer\.json/);
      assert.ok(e.message.includes(join(empty, 'models', 'stories260K')), e.message);
      return true;
    });
  });

  test('a hub repository is tried last, and its failure is part of the message', async () => {
    const fake: HubDownloader = async (repo, type) => {
      assert.equal(type, 'model');
      assert.equal(repo, 'owner/tiny');
      return otherModel;
    };
    assert.deepEqual(await resolveModel(undefined, isolated({ hubRepo: 'owner/tiny', download: fake })), { path: otherModel, source: 'hub' });
    await assert.rejects(resolveModel(undefined, isolated({ hubRepo: 'owner/tiny' })), /hub: could not download model "owner\/tiny".*offline \(test\)/);
  });

  test('a --model that is not a folder: a hub id goes to the hub, anything else is "no such model folder"', async () => {
    assert.equal(looksLikeHubId('owner/name'), true);
    assert.equal(looksLikeHubId('./models/x'), false);
    assert.equal(looksLikeHubId('/abs/path'), false);
    assert.equal(looksLikeHubId('a/b/c'), false);
    const fake: HubDownloader = async () => otherModel;
    assert.deepEqual(await resolveModel('owner/name', isolated({ download: fake })), { path: otherModel, source: 'hub' });
    await assert.rejects(resolveModel('owner/name', isolated()), /--model owner\/name: no such model folder here, and could not download/);
    await assert.rejects(resolveModel(join(tmp, 'missing', 'model'), isolated()), /no such model folder/);
    await assert.rejects(resolveModel(undefined, isolated({ env: { SOFTPROMPT_MODEL: './nowhere' } })), /\$SOFTPROMPT_MODEL \.\/nowhere: no such model folder/);
    await assert.rejects(resolveModel(join(otherModel, 'config.json'), isolated()), /is a file/);
  });

});

describe('resolveDataset', () => {
  test('order: flag, then SOFTPROMPT_DATA, then ../shared/datasets/story_gender', async () => {
    const file = join(SHARED, 'datasets', 'sst2', 'validation.jsonl');
    const env = { SOFTPROMPT_DATA: file, SOFTPROMPT_SHARED: SHARED };
    const dir = join(SHARED, 'datasets', 'rte');
    assert.deepEqual(await resolveDataset(dir, isolated({ env })), { path: resolve(dir), source: 'flag' });
    assert.deepEqual(await resolveDataset(undefined, isolated({ env })), { path: resolve(file), source: 'env' });
    assert.deepEqual(await resolveDataset(undefined, isolated({ env: { SOFTPROMPT_SHARED: SHARED } })), {
      path: resolve(SHARED, 'datasets', 'story_gender'),
      source: 'shared',
    });
  });

  test('nothing found: the message says what to provide', async () => {
    await assert.rejects(resolveDataset(undefined, isolated()), (e: unknown) => {
      assert.ok(e instanceof SoftpromptError);
      assert.match(e.message, /no dataset found/);
      assert.match(e.message, /--data PATH/);
      assert.match(e.message, /SOFTPROMPT_DATA=PATH/);
      assert.match(e.message, /train\.jsonl and validation\.jsonl/);
      return true;
    });
  });
});
