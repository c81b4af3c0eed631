// The console's AWS clients: KMS (JSON 1.1, X-Amz-Target TrentService.*), CloudTrail (JSON 1.1,
// CloudTrail_20131101.*), IAM and STS (Query protocol, XML answers). Every call goes to this
// page's own origin, signed with the signed-in identity's keys (sigv4.ts); an error answer
// becomes an AwsError carrying AWS's error type and message as the server sent them.
import { sign, type Credentials } from "./sigv4";

export class AwsError extends Error {
  constructor(
    public readonly type: string,
    message: string,
    public readonly status: number,
  ) {
    super(message);
  }
}

// Errors that mean the credentials no longer work: the console signs out and says why.
export function isCredentialError(error: unknown): boolean {
  return (
    error instanceof AwsError &&
    ["ExpiredTokenException", "ExpiredToken", "UnrecognizedClientException", "InvalidClientTokenId"].includes(
      error.type,
    )
  );
}

type Listener = (error: AwsError) => void;

export class Client {
  private onCredentialError: Listener | null = null;

  constructor(
    public readonly credentials: Credentials,
    public readonly region: string,
  ) {}

  setCredentialErrorListener(listener: Listener | null) {
    this.onCredentialError = listener;
  }

  private async send(service: string, headers: [string, string][], body: string): Promise<string> {
    const signed = await sign(
      { method: "POST", target: "/", headers: [["Host", location.host], ...headers], body },
      this.credentials,
      this.region,
      service,
      new Date(),
    );
    let response: Response;
    try {
      response = await fetch("/", {
        method: "POST",
        headers: [...headers, ...signed.headers],
        body,
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      throw new AwsError("NetworkError", `kmsd did not answer: ${String(error)}`, 0);
    }
    const text = await response.text();
    if (response.ok) return text;
    const error = parseError(text, response);
    if (isCredentialError(error)) this.onCredentialError?.(error);
    throw error;
  }

  async kms<T = any>(operation: string, request: object = {}): Promise<T> {
    const text = await this.send(
      "kms",
      [["Content-Type", "application/x-amz-json-1.1"], ["X-Amz-Target", `TrentService.${operation}`]],
      JSON.stringify(request),
    );
    return (text ? JSON.parse(text) : {}) as T;
  }

  async cloudtrail<T = any>(operation: string, request: object = {}): Promise<T> {
    const text = await this.send(
      "cloudtrail",
      [
        ["Content-Type", "application/x-amz-json-1.1"],
        ["X-Amz-Target", `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.${operation}`],
      ],
      JSON.stringify(request),
    );
    return (text ? JSON.parse(text) : {}) as T;
  }

  // An IAM or STS Query call; the XML answer as a document.
  async query(service: "iam" | "sts", action: string, params: Record<string, string> = {}): Promise<Document> {
    const version = service === "iam" ? "2010-05-08" : "2011-06-15";
    const form = new URLSearchParams({ Action: action, Version: version, ...params });
    const text = await this.send(
      service,
      [["Content-Type", "application/x-www-form-urlencoded; charset=utf-8"]],
      form.toString(),
    );
    return new DOMParser().parseFromString(text, "application/xml");
  }
}

function parseError(text: string, response: Response): AwsError {
  const headerType = response.headers.get("x-amzn-ErrorType")?.split(":")[0] ?? "";
  try {
    const body = JSON.parse(text);
    const type = String(body.__type ?? headerType ?? "").split("#").pop() || "Error";
    return new AwsError(type, String(body.message ?? body.Message ?? response.statusText), response.status);
  } catch {
    // Query protocol: <ErrorResponse><Error><Code/><Message/></Error></ErrorResponse>.
    const xml = new DOMParser().parseFromString(text, "application/xml");
    const code = xml.querySelector("Error > Code")?.textContent;
    if (code) {
      return new AwsError(code, xml.querySelector("Error > Message")?.textContent ?? "", response.status);
    }
    return new AwsError(headerType || `HTTP ${response.status}`, text.slice(0, 300), response.status);
  }
}

// The text of each element named `tag` under `node` (Query answers).
export function xmlText(node: ParentNode, tag: string): string {
  return node.querySelector(tag)?.textContent ?? "";
}

export function xmlMembers(node: ParentNode, listTag: string): Element[] {
  const list = node.querySelector(listTag);
  return list ? Array.from(list.children).filter((child) => child.tagName === "member") : [];
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text.trim());
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
