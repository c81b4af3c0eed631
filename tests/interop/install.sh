#!/usr/bin/env bash
# Installs the AWS Encryption SDK for JavaScript for the interoperability tests, once.
set -euo pipefail
cd "$(dirname "$0")"
if [[ ! -d node_modules/@aws-crypto/client-node || package-lock.json -nt node_modules ]]; then
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules
fi
