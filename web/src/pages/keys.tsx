// Keys: every key id and alias is listed (ListKeys, ListAliases, paged); only the rows shown are
// described (DescribeKey, GetKeyRotationStatus), so a page over thousands of keys costs a few
// dozen calls. Filtering by state describes the keys that match the search, a few at a time.
import { useEffect, useMemo, useState } from "preact/hooks";
import type { Client } from "../api";
import { Empty, ErrorBox, formatDate, Loading, relativeDays, StateBadge, toDate, useClient, useLoad } from "../ui";

interface KeyRow {
  KeyId: string;
  KeyArn: string;
  aliases: string[];
}

export interface Described {
  metadata: any;
  rotation?: { enabled: boolean; next?: number; period?: number } | null;
}

const pageSize = 25;
const states = ["All", "Enabled", "Disabled", "PendingDeletion", "PendingReplicaDeletion", "PendingImport", "Unavailable"];

export async function listAll<T>(
  fetchPage: (marker?: string) => Promise<{ items: T[]; next?: string }>,
  maxPages = 200,
): Promise<T[]> {
  const all: T[] = [];
  let marker: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const { items, next } = await fetchPage(marker);
    all.push(...items);
    if (!next) break;
    marker = next;
  }
  return all;
}

async function loadKeys(client: Client): Promise<KeyRow[]> {
  const [keys, aliases] = await Promise.all([
    listAll(async (Marker) => {
      const page = await client.kms("ListKeys", { Limit: 1000, ...(Marker ? { Marker } : {}) });
      return { items: page.Keys ?? [], next: page.Truncated ? page.NextMarker : undefined };
    }),
    listAll(async (Marker) => {
      const page = await client.kms("ListAliases", { Limit: 100, ...(Marker ? { Marker } : {}) });
      return { items: page.Aliases ?? [], next: page.Truncated ? page.NextMarker : undefined };
    }),
  ]);
  const byKey = new Map<string, string[]>();
  for (const alias of aliases as any[]) {
    if (!alias.TargetKeyId) continue;
    byKey.set(alias.TargetKeyId, [...(byKey.get(alias.TargetKeyId) ?? []), alias.AliasName]);
  }
  const rows = (keys as any[]).map((key) => ({ KeyId: key.KeyId, KeyArn: key.KeyArn, aliases: (byKey.get(key.KeyId) ?? []).sort() }));
  // Keys with an alias first, by alias: the names people gave are what they look for.
  const named = rows.filter((row) => row.aliases.length).sort((a, b) => a.aliases[0].localeCompare(b.aliases[0]));
  return [...named, ...rows.filter((row) => !row.aliases.length)];
}

export async function describe(client: Client, keyId: string): Promise<Described> {
  const { KeyMetadata } = await client.kms("DescribeKey", { KeyId: keyId });
  let rotation: Described["rotation"] = null;
  if (KeyMetadata.KeySpec === "SYMMETRIC_DEFAULT" && KeyMetadata.Origin === "AWS_KMS" && KeyMetadata.KeyState !== "PendingDeletion") {
    try {
      const status = await client.kms("GetKeyRotationStatus", { KeyId: keyId });
      rotation = { enabled: !!status.KeyRotationEnabled, next: status.NextRotationDate, period: status.RotationPeriodInDays };
    } catch {
      rotation = null;  // not allowed to read it: shown as unknown
    }
  }
  return { metadata: KeyMetadata, rotation };
}

// Runs `work` over `items`, `width` at a time.
async function eachLimited<T>(items: T[], width: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

export function KeysPage() {
  const client = useClient();
  const keys = useLoad(() => loadKeys(client), [client]);
  const [search, setSearch] = useState("");
  const [state, setState] = useState("All");
  const [page, setPage] = useState(0);
  const [described, setDescribed] = useState<Map<string, Described | Error>>(new Map());
  const [describing, setDescribing] = useState<{ done: number; total: number } | null>(null);

  const remember = (id: string, value: Described | Error) =>
    setDescribed((old) => new Map(old).set(id, value));

  const searched = useMemo(() => {
    const needle = search.trim().toLowerCase();
    const all = keys.data ?? [];
    if (!needle) return all;
    return all.filter(
      (key) =>
        key.KeyId.toLowerCase().includes(needle) ||
        key.aliases.some((alias) => alias.toLowerCase().includes(needle)) ||
        String((described.get(key.KeyId) as Described | undefined)?.metadata?.Description ?? "").toLowerCase().includes(needle),
    );
  }, [keys.data, search, described]);

  // A state filter needs every searched key described.
  useEffect(() => {
    if (state === "All") return;
    const missing = searched.filter((key) => !described.has(key.KeyId));
    if (missing.length === 0) return;
    let cancelled = false;
    let done = 0;
    setDescribing({ done, total: missing.length });
    eachLimited(missing, 6, async (key) => {
      if (cancelled) return;
      try {
        remember(key.KeyId, await describe(client, key.KeyId));
      } catch (error) {
        remember(key.KeyId, error as Error);
      }
      setDescribing({ done: ++done, total: missing.length });
    }).then(() => !cancelled && setDescribing(null));
    return () => {
      cancelled = true;
    };
  }, [state, searched]);

  const filtered = useMemo(
    () =>
      state === "All"
        ? searched
        : searched.filter((key) => {
            const entry = described.get(key.KeyId);
            return entry && !(entry instanceof Error) && entry.metadata.KeyState === state;
          }),
    [searched, state, described],
  );
  const pages = Math.max(1, Math.ceil(filtered.length / pageSize));
  const shownPage = Math.min(page, pages - 1);
  const visible = filtered.slice(shownPage * pageSize, shownPage * pageSize + pageSize);

  // Describe the visible rows not yet described.
  useEffect(() => {
    const missing = visible.filter((key) => !described.has(key.KeyId));
    if (missing.length === 0) return;
    eachLimited(missing, 6, async (key) => {
      try {
        remember(key.KeyId, await describe(client, key.KeyId));
      } catch (error) {
        remember(key.KeyId, error as Error);
      }
    });
  }, [visible.map((key) => key.KeyId).join()]);

  return (
    <div>
      <div class="page-head">
        <h1>Keys</h1>
        <a class="button" href="#/create">Create key</a>
      </div>
      <div class="toolbar">
        <input type="search" placeholder="Search alias, key id or description" aria-label="Search keys"
               value={search} onInput={(e) => { setSearch(e.currentTarget.value); setPage(0); }} />
        <select aria-label="Key state" value={state} onChange={(e) => { setState(e.currentTarget.value); setPage(0); }}>
          {states.map((name) => <option value={name}>{name === "All" ? "All states" : name}</option>)}
        </select>
        <button class="secondary" onClick={() => { setDescribed(new Map()); keys.reload(); }}>Refresh</button>
      </div>
      <ErrorBox error={keys.error} />
      {keys.loading && !keys.data ? <Loading what="keys" /> : null}
      {describing ? <p class="muted">Describing keys for the filter: {describing.done} of {describing.total}…</p> : null}
      {keys.data && keys.data.length === 0 ? (
        <Empty>
          No keys yet. <a href="#/create">Create the first key</a>.
        </Empty>
      ) : null}
      {keys.data && keys.data.length > 0 && filtered.length === 0 && !describing ? (
        <Empty>No key matches this search.</Empty>
      ) : null}
      {visible.length > 0 ? (
        <div class="table-wrap">
          <table class="keys">
            <thead>
              <tr>
                <th>Alias</th><th>Key ID</th><th>Spec</th><th>Usage</th><th>State</th>
                <th>Created</th><th>Rotation</th><th>Deletion</th>
              </tr>
            </thead>
            <tbody>
              {visible.map((key) => <KeyRowView key={key.KeyId} row={key} entry={described.get(key.KeyId)} />)}
            </tbody>
          </table>
        </div>
      ) : null}
      {filtered.length > pageSize ? (
        <div class="pager">
          <button class="secondary" disabled={shownPage === 0} onClick={() => setPage(shownPage - 1)}>Previous</button>
          <span>
            Page {shownPage + 1} of {pages} · {filtered.length} keys
          </span>
          <button class="secondary" disabled={shownPage >= pages - 1} onClick={() => setPage(shownPage + 1)}>Next</button>
        </div>
      ) : keys.data && filtered.length > 0 ? (
        <p class="muted">{filtered.length} key{filtered.length === 1 ? "" : "s"}</p>
      ) : null}
    </div>
  );
}

function KeyRowView({ row, entry }: { row: KeyRow; entry?: Described | Error }) {
  const href = `#/keys/${encodeURIComponent(row.KeyId)}`;
  const metadata = entry && !(entry instanceof Error) ? entry.metadata : null;
  const rotation = entry && !(entry instanceof Error) ? entry.rotation : null;
  const deletion = toDate(metadata?.DeletionDate);
  return (
    <tr data-key-id={row.KeyId}>
      <td data-label="Alias">{row.aliases.length ? row.aliases.map((alias) => <div><a href={href}>{alias}</a></div>) : <span class="muted">—</span>}</td>
      <td data-label="Key ID" class="mono"><a href={href}>{row.KeyId}</a></td>
      {entry instanceof Error ? (
        <td colSpan={6} class="muted">{(entry as any).type ?? "Error"}: {entry.message}</td>
      ) : metadata ? (
        <>
          <td data-label="Spec">{metadata.KeySpec}</td>
          <td data-label="Usage">{metadata.KeyUsage}</td>
          <td data-label="State"><StateBadge state={metadata.KeyState} /></td>
          <td data-label="Created">{formatDate(metadata.CreationDate)}</td>
          <td data-label="Rotation">
            {rotation ? (rotation.enabled ? <span>On{rotation.next ? `, next ${formatDate(rotation.next).slice(0, 10)}` : ""}</span> : "Off") : <span class="muted">—</span>}
          </td>
          <td data-label="Deletion">{deletion ? <span class="danger-text">{formatDate(deletion)} ({relativeDays(deletion)})</span> : <span class="muted">—</span>}</td>
        </>
      ) : (
        <td colSpan={6} class="muted">…</td>
      )}
    </tr>
  );
}
