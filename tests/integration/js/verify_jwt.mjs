// Verifies JWTs with jose (github.com/panva/jose), a JWT library that is not kmsd's. Reads a JSON
// array of {token, alg, publicKeyDer (base64 DER SubjectPublicKeyInfo, as GetPublicKey gives it)}
// on stdin and writes, for each, {valid, payload?, alg?, error?} as a JSON array on stdout. alg is
// JOSE's: ES256/ES384, RS256, PS256, or EdDSA for an Ed25519 key (RFC 8037).
import { importSPKI, jwtVerify } from 'jose';

function pem(der) {
  const lines = Buffer.from(der, 'base64').toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN PUBLIC KEY-----\n${lines}\n-----END PUBLIC KEY-----\n`;
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const { token, alg, publicKeyDer } of JSON.parse(input)) {
  try {
    const key = await importSPKI(pem(publicKeyDer), alg);
    // An EdDSA key must be an Ed25519 one (jose also takes Ed448 under EdDSA; KMS has none).
    if (alg === 'EdDSA' && key.algorithm?.name !== 'Ed25519') {
      throw new Error(`EdDSA key is ${key.algorithm?.name}, not Ed25519`);
    }
    const { payload, protectedHeader } = await jwtVerify(token, key, { algorithms: [alg] });
    results.push({ valid: true, payload, alg: protectedHeader.alg });
  } catch (error) {
    results.push({ valid: false, error: `${error.code || error.name}: ${error.message}` });
  }
}
process.stdout.write(JSON.stringify(results));
