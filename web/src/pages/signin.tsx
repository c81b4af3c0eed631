// Sign-in: an access key (and session token) checked with STS GetCallerIdentity, then kept in
// this tab's sessionStorage only.
import { useState } from "preact/hooks";
import { xmlText } from "../api";
import { clientFor, type Session } from "../session";
import { ErrorBox } from "../ui";

export function SignIn({ onSignedIn, notice }: { onSignedIn: (session: Session) => void; notice: string }) {
  const [accessKeyId, setAccessKeyId] = useState("");
  const [secretAccessKey, setSecret] = useState("");
  const [sessionToken, setToken] = useState("");
  const [region, setRegion] = useState("us-east-1");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const candidate = { accessKeyId: accessKeyId.trim(), secretAccessKey, sessionToken: sessionToken.trim(), region: region.trim() };
    try {
      const identity = await clientFor(candidate).query("sts", "GetCallerIdentity");
      onSignedIn({ ...candidate, arn: xmlText(identity, "Arn"), account: xmlText(identity, "Account") });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="signin">
      <form class="card" onSubmit={submit} aria-label="Sign in">
        <h1>kmsd console</h1>
        <p class="muted">
          Sign in with an access key. It stays in this tab (session storage) and signs each request
          here; kmsd authorizes and audits every call under that identity.
        </p>
        {notice ? <div class="notice" role="status">{notice}</div> : null}
        <label>
          Access key ID
          <input name="accessKeyId" autocomplete="username" required value={accessKeyId}
                 onInput={(e) => setAccessKeyId(e.currentTarget.value)} />
        </label>
        <label>
          Secret access key
          <input name="secretAccessKey" type="password" autocomplete="current-password" required
                 value={secretAccessKey} onInput={(e) => setSecret(e.currentTarget.value)} />
        </label>
        <label>
          Session token <span class="muted">(optional, for temporary credentials)</span>
          <input name="sessionToken" value={sessionToken} onInput={(e) => setToken(e.currentTarget.value)} />
        </label>
        <label>
          Region
          <input name="region" required value={region} onInput={(e) => setRegion(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled={busy}>{busy ? "Signing in…" : "Sign in"}</button>
        <ErrorBox error={error} />
      </form>
    </main>
  );
}
