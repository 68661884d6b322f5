/**
 * Node's host (host.ts), installed by the Node entry points (the package index, the CLI, the
 * server's engine worker). Importing this module installs it; the browser core never imports it.
 */
import * as crypto from 'node:crypto';
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as fsPromises from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as url from 'node:url';
import { type Host, setHost } from './host.ts';

export const NODE_HOST: Host = { name: 'node', fs, fsPromises, path, os, crypto, readline, url, events: { setMaxListeners } };

setHost(NODE_HOST);
