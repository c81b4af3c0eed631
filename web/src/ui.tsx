// Small shared pieces: the client in context, loading and error states, dates shown plainly.
import { createContext, type ComponentChildren } from "preact";
import { useCallback, useContext, useEffect, useState } from "preact/hooks";
import { AwsError, type Client } from "./api";
import type { Session } from "./session";

export const SessionContext = createContext<{ session: Session; client: Client } | null>(null);

export function useClient(): Client {
  return useContext(SessionContext)!.client;
}

export function useSession(): Session {
  return useContext(SessionContext)!.session;
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

// Runs `load` when `deps` change (and on reload); keeps the last answer while reloading.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    setState((old) => ({ data: old.data, loading: true }));
    load().then(
      (data) => current && setState({ data, loading: false }),
      (error) => current && setState({ error, loading: false }),
    );
    return () => {
      current = false;
    };
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

// An action button's state: busy while it runs, its error shown below.
export function useAction(): [(run: () => Promise<unknown>) => Promise<boolean>, unknown, boolean, () => void] {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const act = useCallback(async (run: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await run();
      return true;
    } catch (caught) {
      setError(caught);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return [act, error, busy, () => setError(null)];
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof AwsError) {
    return (
      <div class="error" role="alert" data-error-type={error.type}>
        <strong>{error.type}</strong>
        {error.message ? <span>: {error.message}</span> : null}
        {error.type === "AccessDeniedException" || error.type === "AccessDenied" ? (
          <p class="hint">The signed-in identity may not do this. Ask for a policy that allows it.</p>
        ) : null}
      </div>
    );
  }
  return (
    <div class="error" role="alert">
      {String(error instanceof Error ? error.message : error)}
    </div>
  );
}

export function Loading({ what }: { what?: string }) {
  return <p class="muted" aria-busy="true">Loading{what ? ` ${what}` : ""}…</p>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" id={id}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

// KMS timestamps are seconds since the epoch; CloudTrail's too (JSON 1.1).
export function toDate(value: number | string | undefined): Date | null {
  if (value === undefined || value === null || value === "") return null;
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return isNaN(date.getTime()) ? null : date;
}

export function formatDate(value: number | string | Date | undefined | null): string {
  const date = value instanceof Date ? value : toDate(value ?? undefined);
  if (!date) return "—";
  return date.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function relativeDays(date: Date | null): string {
  if (!date) return "";
  const days = Math.round((date.getTime() - Date.now()) / 86_400_000);
  if (days === 0) return "today";
  return days > 0 ? `in ${days} day${days === 1 ? "" : "s"}` : `${-days} day${days === -1 ? "" : "s"} ago`;
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}

export function go(hash: string) {
  location.hash = hash;
}
