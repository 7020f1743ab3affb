// Preloaded into NNI's Node.js manager (NODE_OPTIONS=--require ...) by kd-automl.
// 1. Every server listens on KD_AUTOML_NNI_HOST (default 127.0.0.1), not on every interface.
// 2. Every HTTP request and websocket upgrade outside the secret URL prefix gets a bare 404:
//    NNI 3.0's own 404 page names the prefix ("Outside prefix ..."), which would leak it.
// 3. The tuner (dispatcher) gets 90 s to connect instead of NNI's hard-coded 10 s, which a
//    loaded machine misses while Python imports NNI's tuner (the experiment then ends in ERROR).
// 4. The prefix comes from the environment (KD_AUTOML_NNI_PREFIX, readable by this user only),
//    never from the command line that every local user can read in /proc: kd-automl starts
//    NNI's manager without --url-prefix and the guard hands it to NNI's own argument parser.
//    Files are created private (umask 077).
// 5. The manager's trial loop looks every KD_AUTOML_NNI_POLL_S seconds (default 0.1) instead of
//    NNI's fixed 0.5 s for the local training service: each round it sees ended trials, asks the
//    tuner, and starts the next trial a round later, so the 0.5 s cost about 0.9 s per trial.
'use strict';
const net = require('net');
const http = require('http');
const path = require('path');

const host = process.env.KD_AUTOML_NNI_HOST || '127.0.0.1';
const prefix = (process.env.KD_AUTOML_NNI_PREFIX || '').replace(/^\/+|\/+$/g, '');

process.umask(0o077);
const isManager = /nni_node[\\/]main\.js$/.test(path.resolve(process.argv[1] || ''));
if (prefix && isManager) {
  if (!process.argv.includes('--url-prefix')) process.argv.push('--url-prefix', prefix);
  delete process.env.KD_AUTOML_NNI_PREFIX; // the tuner and the trials have no use for it
}

const pollSeconds = Number(process.env.KD_AUTOML_NNI_POLL_S || 0.1);
if (isManager && pollSeconds > 0) {
  const Module = require('module');
  const load = Module._load;
  Module._load = function (request, ...rest) {
    const exported = load.call(this, request, ...rest);
    if (/(^|[\\/])nnimanager(\.js)?$/.test(request) && exported && exported.NNIManager) {
      Module._load = load; // one manager module: stop looking once it is patched
      const proto = exported.NNIManager.prototype;
      const init = proto.initTrainingService;
      proto.initTrainingService = async function (...args) {
        const service = await init.apply(this, args);
        if (this.pollInterval === 0.5) {
          this.pollInterval = pollSeconds;
          this.log.info(`kd-automl: the trial loop looks every ${pollSeconds} s (NNI's 0.5 s)`);
        } else {
          this.log.info(`kd-automl: the trial loop keeps NNI's ${this.pollInterval} s`);
        }
        return service;
      };
    }
    return exported;
  };
}

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (args.length === 1 || typeof args[1] === 'function') args.splice(1, 0, host);
    else if (typeof args[1] === 'string' || args[1] == null) args[1] = host;
  } else if (first && typeof first === 'object' && 'port' in first) {
    args[0] = Object.assign({}, first, { host });
  }
  return listen.apply(this, args);
};

const tunerConnectMs = Number(process.env.KD_AUTOML_NNI_TUNER_TIMEOUT_MS || 90000);
const setTimeoutOrig = global.setTimeout;
global.setTimeout = function (fn, ms, ...rest) {
  if (ms === 10000 && String(fn).includes('Tuner did not connect')) ms = tunerConnectMs;
  return setTimeoutOrig.call(this, fn, ms, ...rest);
};

function insidePrefix(url) {
  const path = (url || '').split('?')[0];
  return path === '/' + prefix || path.startsWith('/' + prefix + '/');
}

if (prefix) {
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (event, ...args) {
    if ((event === 'request' || event === 'upgrade') && !insidePrefix(args[0].url)) {
      if (event === 'request') {
        const res = args[1];
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('Not Found');
      } else {
        args[1].destroy();
      }
      return true;
    }
    return emit.call(this, event, ...args);
  };
}
