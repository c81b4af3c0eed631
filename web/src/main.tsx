// The console's shell: sign-in, the navigation and the hash routes (#/keys, #/keys/ID, #/create,
// #/audit, #/identities, #/try). Hash routes keep every page at /console/, one static file.
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { isCredentialError } from "./api";
import { clearSession, clientFor, loadSession, saveSession, type Session } from "./session";
import { SessionContext } from "./ui";
import { SignIn } from "./pages/signin";
import { KeysPage } from "./pages/keys";
import { KeyPage } from "./pages/key";
import { CreateKeyPage } from "./pages/create";
import { AuditPage } from "./pages/audit";
import { IdentitiesPage } from "./pages/identities";
import { TryPage } from "./pages/try";

function useHash(): string {
  const [hash, setHash] = useState(location.hash || "#/keys");
  useEffect(() => {
    const changed = () => setHash(location.hash || "#/keys");
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return hash;
}

const pages: [string, string][] = [
  ["#/keys", "Keys"],
  ["#/create", "Create key"],
  ["#/audit", "Audit"],
  ["#/identities", "Identities"],
  ["#/try", "Try it"],
];

function App() {
  const [session, setSession] = useState<Session | null>(loadSession());
  const [notice, setNotice] = useState("");
  const hash = useHash();
  const client = useMemo(() => (session ? clientFor(session) : null), [session]);

  useEffect(() => {
    client?.setCredentialErrorListener((error) => {
      if (!isCredentialError(error)) return;
      clearSession();
      setSession(null);
      setNotice(`Signed out: ${error.type}: ${error.message}`);
    });
  }, [client]);

  if (!session || !client) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(signedIn) => {
          saveSession(signedIn);
          setNotice("");
          setSession(signedIn);
        }}
      />
    );
  }

  const route = hash.replace(/^#/, "").split("?")[0];
  let page;
  if (route.startsWith("/keys/")) page = <KeyPage keyId={decodeURIComponent(route.slice(6))} />;
  else if (route === "/create") page = <CreateKeyPage />;
  else if (route === "/audit") page = <AuditPage />;
  else if (route === "/identities") page = <IdentitiesPage />;
  else if (route === "/try") page = <TryPage />;
  else page = <KeysPage />;

  return (
    <SessionContext.Provider value={{ session, client }}>
      <header class="top">
        <a class="brand" href="#/keys">kmsd</a>
        <nav>
          {pages.map(([href, label]) => (
            <a href={href} class={hash.split("?")[0] === href || (href === "#/keys" && hash.startsWith("#/keys/")) ? "active" : ""}>
              {label}
            </a>
          ))}
        </nav>
        <div class="who">
          <span class="identity" title={session.arn}>{session.arn.split(":").pop()}</span>
          <span class="region">{session.region}</span>
          <button
            class="link"
            onClick={() => {
              clearSession();
              setSession(null);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main>{page}</main>
    </SessionContext.Provider>
  );
}

render(<App />, document.getElementById("app")!);
