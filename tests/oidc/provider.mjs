// A real OpenID provider for the integration tests: oidc-provider (the certified OpenID
// Connect provider for Node.js), one instance per realm, served Keycloak-style under
// /realms/<name> on one loopback port. The tests obtain JWT access tokens from its token
// endpoint (client credentials with a resource indicator, RFC 8707 / RFC 9068) and the
// gateway fetches its discovery document and JWKS.
//
//   node provider.mjs CONFIG.json
//
// CONFIG (written by tests/harness/oidc.py):
//   {"port": 40123,                        loopback port to listen on
//    "state": "/tmp/.../keys.json",        the realms' private signing keys: loaded when the
//                                          file exists (a restart keeps its keys), else
//                                          generated and written; rewritten on rotation
//    "realms": {"acme": {
//       "algorithms": ["RS256", "ES256"],  one signing key per algorithm
//       "issuer_path": "/realms/other",    optional: the issuer this realm says it is, as a
//                                          path on this origin (default /realms/<name>)
//       "resources": {"https://api": {"alg": "ES256", "scope": "a b",
//                                     "audiences": ["extra"]}},   aud = [indicator, ...extra]
//       "clients": {"id": {"secret": "s", "scope": "a b", "claims": {...}}}}}}
//
// Once listening it prints one JSON line on stdout: {"ready": true, "port", "issuers"}.
// It exits when its standard input closes (the test process died) or on SIGTERM.
//
// Test controls, on the same port (loopback only):
//   POST /admin/realms/<name>/rotate   a new key per algorithm, published first and used
//                                      for signing from now on; the old keys stay
//                                      published, unless the body is {"keep_old": false}.
//                                      Answers {"kids": [...]} (published, newest first).
//   POST /admin/realms/<name>/faults   {"delay_ms": n, "jwks_body": "..."}: the realm's
//                                      discovery and JWKS answers wait n ms; its JWKS
//                                      answer is replaced by jwks_body (a broken server).
//                                      {} clears them.
//   GET  /admin/hits                   {"<path>": count} of the requests served.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const { port } = config;
const origin = `http://127.0.0.1:${port}`;

// --- keys -------------------------------------------------------------------------------
function newKey(alg, realm, n) {
  const [type, options] = {
    RS256: ['rsa', { modulusLength: 2048 }],
    PS256: ['rsa', { modulusLength: 2048 }],
    ES256: ['ec', { namedCurve: 'P-256' }],
    EdDSA: ['ed25519', {}],
  }[alg] ?? [];
  if (!type) throw new Error(`no key type for ${alg}`);
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${realm}-${alg.toLowerCase()}-${n}` };
}

let state = fs.existsSync(config.state) ? JSON.parse(fs.readFileSync(config.state, 'utf8')) : {};
for (const [name, realm] of Object.entries(config.realms)) {
  state[name] ??= { generation: 1, keys: realm.algorithms.map((alg) => newKey(alg, name, 1)) };
}
const saveState = () => fs.writeFileSync(config.state, JSON.stringify(state));
saveState();

// --- one oidc-provider per realm --------------------------------------------------------
const issuerOf = (name) => `${origin}${config.realms[name].issuer_path ?? `/realms/${name}`}`;
const faults = {};
const providers = {};

function build(name) {
  const realm = config.realms[name];
  const clients = Object.entries(realm.clients ?? {}).map(([id, c]) => ({
    client_id: id,
    client_secret: c.secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    ...(c.scope ? { scope: c.scope } : {}),
  }));
  const scopes = new Set(['openid']);
  for (const r of Object.values(realm.resources ?? {})) for (const s of (r.scope ?? '').split(' ')) if (s) scopes.add(s);
  const provider = new Provider(issuerOf(name), {
    jwks: { keys: state[name].keys },
    clients,
    scopes: [...scopes],
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, indicator) {
          const resource = realm.resources?.[indicator];
          if (!resource) throw new errors.InvalidTarget();
          return {
            scope: resource.scope ?? '',
            audience: indicator,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: resource.alg } },
          };
        },
      },
    },
    // Keycloak- and Cognito-shaped claims per client, from the test's configuration.
    extraTokenClaims(ctx, token) {
      return realm.clients?.[token.clientId]?.claims;
    },
    formats: {
      customizers: {
        // Keycloak sends `aud` as an array (the resource and e.g. `account`).
        jwt(ctx, token, jwt) {
          const extra = realm.resources?.[jwt.payload.aud]?.audiences;
          if (extra) jwt.payload.aud = [jwt.payload.aud, ...extra];
        },
      },
    },
  });
  provider.use(async (ctx, next) => {
    const fault = faults[name] ?? {};
    const discoveryOrKeys = ctx.path === '/jwks' || ctx.path === '/.well-known/openid-configuration';
    if (fault.delay_ms && discoveryOrKeys) await new Promise((r) => setTimeout(r, fault.delay_ms));
    if (fault.jwks_body !== undefined && ctx.path === '/jwks') {
      ctx.status = 200;
      ctx.type = 'application/json';
      ctx.body = fault.jwks_body;
      return;
    }
    await next();
  });
  provider.on('server_error', (ctx, err) => console.error(`[${name}] server_error`, err));
  return provider.callback();
}

for (const name of Object.keys(config.realms)) providers[name] = build(name);

// --- controls ---------------------------------------------------------------------------
function rotate(name, keepOld) {
  const realm = state[name];
  realm.generation += 1;
  const fresh = config.realms[name].algorithms.map((alg) => newKey(alg, name, realm.generation));
  realm.keys = keepOld ? [...fresh, ...realm.keys] : fresh;
  saveState();
  providers[name] = build(name);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => { try { resolve(body ? JSON.parse(body) : {}); } catch (e) { reject(e); } });
  });
}

async function admin(req, res, path) {
  const answer = (status, value) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  if (req.method === 'GET' && path === '/hits') return answer(200, hits);
  const m = /^\/realms\/([^/]+)\/(rotate|faults)$/.exec(path);
  if (req.method !== 'POST' || !m || !providers[m[1]]) return answer(404, { error: 'not found' });
  const [, name, action] = m;
  const body = await readJson(req);
  if (action === 'rotate') rotate(name, body.keep_old !== false);
  if (action === 'faults') faults[name] = body;
  return answer(200, { kids: state[name].keys.map((k) => k.kid) });
}

// --- the server -------------------------------------------------------------------------
const hits = {};
const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  hits[path] = (hits[path] ?? 0) + 1;
  if (path.startsWith('/admin/')) {
    admin(req, res, path.slice('/admin'.length)).catch((e) => {
      res.writeHead(500);
      res.end(String(e));
    });
    return;
  }
  const m = /^\/realms\/([^/]+)(\/.*)$/.exec(req.url);
  if (!m || !providers[m[1]]) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":"no such realm"}');
    return;
  }
  // Mounted under /realms/<name>, as an Express app.use() would: oidc-provider builds its
  // URLs (jwks_uri, token_endpoint) from originalUrl and the request's Host.
  req.originalUrl = req.url;
  req.url = m[2];
  providers[m[1]](req, res);
});

server.listen(port, '127.0.0.1', () => {
  const issuers = Object.fromEntries(Object.keys(config.realms).map((n) => [n, issuerOf(n)]));
  process.stdout.write(`${JSON.stringify({ ready: true, port, issuers })}\n`);
});

// Never outlive the test process: it holds our standard input open.
process.stdin.on('close', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
