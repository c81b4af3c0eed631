// The AWS Encryption SDK for JavaScript, pointed at a KMS endpoint: the other side of kms's
// interoperability tests.
//   node esdk.js encrypt KEY_ARN INPUT OUTPUT [signed|unsigned|v1-signed|v1-unsigned] [k=v ...]
//     (v1-*: message format version 1, suites 0x0378 and 0x0178, as older SDKs wrote them)
//   node esdk.js decrypt KEY_ARN INPUT OUTPUT [k=v ...]   (checks the pairs are in the context)
// Endpoint, region and credentials come from AWS_ENDPOINT_URL, AWS_REGION and AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY.
'use strict'
const fs = require('fs')
const { KMS } = require('@aws-sdk/client-kms')
const {
  KmsKeyringNode, buildClient, CommitmentPolicy, AlgorithmSuiteIdentifier, getClient
} = require('@aws-crypto/client-node')

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
const legacy = buildClient(CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
const suites = {
  signed: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
  unsigned: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
  'v1-signed': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
  'v1-unsigned': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256
}

function keyring (keyArn) {
  const clientProvider = getClient(KMS, {
    endpoint: process.env.AWS_ENDPOINT_URL,
    region: process.env.AWS_REGION,
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID,
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY
    }
  })
  return new KmsKeyringNode({ generatorKeyId: keyArn, clientProvider })
}

function parseContext (pairs) {
  const context = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    context[pair.slice(0, at)] = pair.slice(at + 1)
  }
  return context
}

async function main () {
  const [command, keyArn, input, output, ...rest] = process.argv.slice(2)
  const plaintextOrMessage = fs.readFileSync(input)
  if (command === 'encrypt') {
    const [signing, ...pairs] = rest
    const suiteId = suites[signing]
    if (suiteId === undefined) throw new Error(`unknown suite ${signing}`)
    const client = signing.startsWith('v1-') ? legacy.encrypt : encrypt
    const { result } = await client(keyring(keyArn), plaintextOrMessage, {
      encryptionContext: parseContext(pairs), suiteId, frameLength: 4096
    })
    fs.writeFileSync(output, result)
  } else if (command === 'decrypt') {
    const { plaintext, messageHeader } = await decrypt(keyring(keyArn), plaintextOrMessage)
    for (const [key, value] of Object.entries(parseContext(rest))) {
      if (messageHeader.encryptionContext[key] !== value) {
        throw new Error(`encryption context lacks ${key}=${value}`)
      }
    }
    fs.writeFileSync(output, plaintext)
  } else {
    throw new Error(`unknown command ${command}`)
  }
}

main().catch((error) => {
  console.error(`esdk: ${error.message}`)
  process.exit(1)
})
