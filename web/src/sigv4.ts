// AWS Signature Version 4 in the browser, with WebCrypto (HMAC-SHA256, SHA-256). Every API call
// the console makes is signed here with the signed-in identity's keys, exactly as the AWS SDKs
// sign it: kmsd verifies it like any other client's (docs/CONSOLE.md). test/sigv4.test.ts checks
// it against AWS's published SigV4 test suite.

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignableRequest {
  method: string;
  // Path and optional query string, as sent: "/" or "/?Param1=value1".
  target: string;
  // Header names in any case; repeats allowed (joined with commas, in order, when signed).
  headers: [string, string][];
  body: string;
}

export interface Signature {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
  // The headers to add to the request: X-Amz-Date, X-Amz-Security-Token (when a session) and
  // Authorization.
  headers: [string, string][];
}

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

async function hmac(key: ArrayBuffer | Uint8Array, text: string): Promise<ArrayBuffer> {
  const imported = await crypto.subtle.importKey(
    "raw",
    key as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return crypto.subtle.sign("HMAC", imported, encoder.encode(text));
}

// RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes, upper-case.
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, "%20"));
  } catch {
    return text;
  }
}

function canonicalQuery(query: string): string {
  if (!query) return "";
  const pairs = query
    .split("&")
    .filter((part) => part.length > 0)
    .map((part) => {
      const equals = part.indexOf("=");
      const name = equals < 0 ? part : part.slice(0, equals);
      const value = equals < 0 ? "" : part.slice(equals + 1);
      return [uriEncode(decodeComponent(name)), uriEncode(decodeComponent(value))];
    });
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join("&");
}

function canonicalPath(path: string): string {
  if (!path || path === "/") return "/";
  return path
    .split("/")
    .map((segment) => uriEncode(decodeComponent(segment)))
    .join("/");
}

// "20150830T123600Z" for a Date.
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

export async function sign(
  request: SignableRequest,
  credentials: Credentials,
  region: string,
  service: string,
  date: Date,
): Promise<Signature> {
  const timestamp = amzDate(date);
  const day = timestamp.slice(0, 8);
  const added: [string, string][] = [["X-Amz-Date", timestamp]];
  if (credentials.sessionToken) added.push(["X-Amz-Security-Token", credentials.sessionToken]);

  const byName = new Map<string, string[]>();
  for (const [name, value] of [...request.headers, ...added]) {
    const lower = name.toLowerCase();
    const trimmed = value.trim().replace(/\s+/g, " ");
    byName.set(lower, [...(byName.get(lower) ?? []), trimmed]);
  }
  const names = [...byName.keys()].sort();
  const canonicalHeaders = names.map((name) => `${name}:${byName.get(name)!.join(",")}\n`).join("");
  const signedHeaders = names.join(";");

  const question = request.target.indexOf("?");
  const path = question < 0 ? request.target : request.target.slice(0, question);
  const query = question < 0 ? "" : request.target.slice(question + 1);
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(path),
    canonicalQuery(query),
    canonicalHeaders,
    signedHeaders,
    await sha256Hex(request.body),
  ].join("\n");

  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", timestamp, scope, await sha256Hex(canonicalRequest)].join(
    "\n",
  );
  const dateKey = await hmac(encoder.encode("AWS4" + credentials.secretAccessKey), day);
  const regionKey = await hmac(dateKey, region);
  const serviceKey = await hmac(regionKey, service);
  const signingKey = await hmac(serviceKey, "aws4_request");
  const signature = hex(await hmac(signingKey, stringToSign));

  added.push([
    "Authorization",
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
      `SignedHeaders=${signedHeaders}, Signature=${signature}`,
  ]);
  return { canonicalRequest, stringToSign, signature, headers: added };
}
