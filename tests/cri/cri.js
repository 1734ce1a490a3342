#!/usr/bin/env node
// qb-cri: one CRI call against containerd's CRI plugin, for shell tests.
//
//   qb-cri [--socket PATH] [--timeout SECS] METHOD [REQUEST-JSON]
//
// METHOD is a method of runtime.v1.RuntimeService (RunPodSandbox, ExecSync,
// ...) or of runtime.v1.ImageService (ListImages, ImageStatus). The request is
// JSON with the proto field names (snake_case); the reply is printed as one
// line of JSON with every field present (defaults included), enums as names,
// int64 as numbers and bytes as UTF-8 text. A gRPC error prints
// "qb-cri: METHOD: CODE_NAME: details" on stderr and exits 2; a usage error
// exits 64. The socket defaults to $CRI_SOCKET. With QB_CRI_TIME_FILE set,
// the call's own time (request sent to reply received, without Node's
// start-up: what a long-lived client such as kubelet waits) is appended to
// that file as "METHOD MS".
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

function usage(msg) {
	process.stderr.write(`qb-cri: ${msg}\n` +
		'usage: qb-cri [--socket PATH] [--timeout SECS] METHOD [REQUEST-JSON]\n');
	process.exit(64);
}

function parseArgs(argv) {
	const o = { socket: process.env.CRI_SOCKET || '', timeout: 120, method: '', body: '{}' };
	const rest = [];
	for (let i = 0; i < argv.length; i++) {
		if (argv[i] === '--socket' && i + 1 < argv.length) o.socket = argv[++i];
		else if (argv[i] === '--timeout' && i + 1 < argv.length) o.timeout = Number(argv[++i]);
		else rest.push(argv[i]);
	}
	if (rest.length < 1 || rest.length > 2) usage('one method and at most one request');
	if (!o.socket) usage('no socket (--socket or CRI_SOCKET)');
	if (!(o.timeout > 0)) usage('--timeout must be a positive number of seconds');
	o.method = rest[0];
	if (rest.length === 2) o.body = rest[1];
	return o;
}

// The proto file sits next to this script in the source tree and in the build tree.
function loadServices() {
	const def = loader.loadSync(path.join(__dirname, 'api.proto'), {
		keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
	});
	return grpc.loadPackageDefinition(def).runtime.v1;
}

function toJSON(value) {
	return JSON.stringify(value, (k, v) => {
		if (v && v.type === 'Buffer' && Array.isArray(v.data))
			return Buffer.from(v.data).toString('utf8');
		return v;
	});
}

function main() {
	const o = parseArgs(process.argv.slice(2));
	let req;
	try {
		req = JSON.parse(o.body);
	} catch (e) {
		usage(`request is not JSON: ${e.message}`);
	}
	const api = loadServices();
	let Service = null;
	for (const name of ['RuntimeService', 'ImageService']) {
		if (typeof api[name].service[o.method] === 'object') Service = api[name];
	}
	if (!Service) usage(`unknown method ${o.method}`);
	const target = 'unix://' + path.resolve(o.socket);
	const client = new Service(target, grpc.credentials.createInsecure());
	const deadline = new Date(Date.now() + o.timeout * 1000);
	const t0 = process.hrtime.bigint();
	client[o.method](req, { deadline }, (err, reply) => {
		client.close();
		if (process.env.QB_CRI_TIME_FILE) {
			const ms = Number(process.hrtime.bigint() - t0) / 1e6;
			require('fs').appendFileSync(process.env.QB_CRI_TIME_FILE,
				`${o.method} ${ms.toFixed(1)}\n`);
		}
		if (err) {
			const code = Object.keys(grpc.status).find((n) => grpc.status[n] === err.code) || err.code;
			process.stderr.write(`qb-cri: ${o.method}: ${code}: ${err.details}\n`);
			process.exitCode = 2;
			return;
		}
		process.stdout.write(toJSON(reply) + '\n');
	});
}

main();
