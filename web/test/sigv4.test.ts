// The console's SigV4 signer against AWS's published Signature Version 4 test suite (the same
// vectors tests/unit/auth/sigv4_test.cc holds for kmsd's verifier): canonical request, string to
// sign and signature must each match. Run by scripts/build-console --test under node's test
// runner (node has WebCrypto, as the browser does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { sign, uriEncode } from "../src/sigv4";

const credentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const date = new Date(Date.UTC(2015, 7, 30, 12, 36, 0));
const host: [string, string] = ["Host", "example.amazonaws.com"];
const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const sessionToken =
  "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPf" +
  "IeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7" +
  "WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm" +
  "8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

interface Vector {
  name: string;
  method: string;
  target: string;
  headers: [string, string][];
  body?: string;
  sessionToken?: string;
  canonicalRequest: string;
  stringToSignHash: string;
  signature: string;
}

const vectors: Vector[] = [
  {
    name: "get-vanilla",
    method: "GET",
    target: "/",
    headers: [host],
    canonicalRequest: `GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${emptyHash}`,
    stringToSignHash: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
    signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
  },
  {
    name: "get-vanilla-query-order-key-case",
    method: "GET",
    target: "/?Param2=value2&Param1=value1",
    headers: [host],
    canonicalRequest: `GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${emptyHash}`,
    stringToSignHash: "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
    signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
  },
  {
    name: "get-vanilla-query-order-encoded",
    method: "GET",
    target: "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
    headers: [host],
    canonicalRequest: `GET\n/\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${emptyHash}`,
    stringToSignHash: "868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71",
    signature: "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac",
  },
  {
    name: "get-vanilla-utf8-query",
    method: "GET",
    target: "/?\u1234=bar",
    headers: [host],
    canonicalRequest: `GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n${emptyHash}`,
    stringToSignHash: "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
    signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
  },
  {
    name: "get-header-value-order",
    method: "GET",
    target: "/",
    headers: [host, ["My-Header1", "value4"], ["My-Header1", "value1"], ["My-Header1", "value3"], ["My-Header1", "value2"]],
    canonicalRequest: `GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n${emptyHash}`,
    stringToSignHash: "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
    signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
  },
  {
    name: "get-header-value-trim",
    method: "GET",
    target: "/",
    headers: [host, ["My-Header1", " value1"], ["My-Header2", ' "a   b   c"']],
    canonicalRequest: `GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:"a b c"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n${emptyHash}`,
    stringToSignHash: "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
    signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
  },
  {
    name: "post-x-www-form-urlencoded-parameters",
    method: "POST",
    target: "/",
    headers: [
      ["Content-Type", "application/x-www-form-urlencoded; charset=utf-8"],
      host,
      ["Content-Length", "13"],
      ["X-Amz-Content-Sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"],
    ],
    body: "Param1=value1",
    canonicalRequest:
      "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\n" +
      "host:example.amazonaws.com\nx-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n" +
      "x-amz-date:20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-date\n" +
      "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
    stringToSignHash: "a89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d",
    signature: "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422",
  },
  {
    name: "post-sts-header-before",
    method: "POST",
    target: "/",
    headers: [host],
    sessionToken,
    canonicalRequest: `POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:${sessionToken}\n\nhost;x-amz-date;x-amz-security-token\n${emptyHash}`,
    stringToSignHash: "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
    signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
  },
];

for (const vector of vectors) {
  test(`SigV4 suite: ${vector.name}`, async () => {
    const signed = await sign(
      { method: vector.method, target: vector.target, headers: vector.headers, body: vector.body ?? "" },
      { ...credentials, sessionToken: vector.sessionToken },
      "us-east-1",
      "service",
      date,
    );
    assert.equal(signed.canonicalRequest, vector.canonicalRequest);
    assert.equal(
      signed.stringToSign,
      `AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n${vector.stringToSignHash}`,
    );
    assert.equal(signed.signature, vector.signature);
    const authorization = signed.headers.find(([name]) => name === "Authorization")?.[1] ?? "";
    assert.match(authorization, new RegExp(`Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=${vector.signature}$`));
  });
}

test("a changed secret changes the signature", async () => {
  const request = { method: "GET", target: "/", headers: [host], body: "" };
  const good = await sign(request, credentials, "us-east-1", "service", date);
  const bad = await sign(request, { ...credentials, secretAccessKey: "x" + credentials.secretAccessKey }, "us-east-1", "service", date);
  assert.notEqual(good.signature, bad.signature);
});

test("uriEncode keeps only RFC 3986 unreserved characters", () => {
  assert.equal(uriEncode("a b/c*~'!"), "a%20b%2Fc%2A~%27%21");
});
