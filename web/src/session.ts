// The signed-in identity, kept in this tab's sessionStorage only: it goes when the tab closes,
// never to localStorage, a cookie or the server (the console sends only signatures).
import { Client } from "./api";

export interface Session {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
  arn: string;
  account: string;
}

const storageKey = "kmsd-console-session";

export function loadSession(): Session | null {
  try {
    const text = sessionStorage.getItem(storageKey);
    return text ? (JSON.parse(text) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session) {
  sessionStorage.setItem(storageKey, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(storageKey);
}

export function clientFor(session: Pick<Session, "accessKeyId" | "secretAccessKey" | "sessionToken" | "region">) {
  return new Client(
    {
      accessKeyId: session.accessKeyId,
      secretAccessKey: session.secretAccessKey,
      sessionToken: session.sessionToken || undefined,
    },
    session.region,
  );
}
