// The audit trail through CloudTrail's LookupEvents: filtered by time, one lookup attribute
// (operation, identity, key, access key, event source) and outcome; each event's JSON; and the
// trail's status (GetTrailStatus: the last signed digest and whether it verified).
import { useEffect, useRef, useState } from "preact/hooks";
import type { Client } from "../api";
import { eventDetail, eventError, eventTime, lookupPage, type LookupQuery, type TrailEvent } from "../trail";
import { Empty, ErrorBox, formatDate, Loading, Section, useAction, useClient, useLoad } from "../ui";

const attributes: [string, string][] = [
  ["EventName", "Operation"],
  ["Username", "Identity (user name)"],
  ["ResourceName", "Key (ARN)"],
  ["AccessKeyId", "Access key id"],
  ["EventSource", "Event source"],
];

const trailName = "kmsd";

function localInput(date: Date): string {
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

// A page may come back with fewer events than asked for, even none, and a token (the server
// bounds what one call reads): follow the tokens, a few pages at most, until events arrive.
async function lookupFilled(client: Client, query: LookupQuery, token?: string) {
  let events: TrailEvent[] = [];
  for (let page = 0; page < 10; page++) {
    const answer = await lookupPage(client, query, token);
    events = [...events, ...answer.events];
    token = answer.nextToken;
    if (!token || events.length >= 25) break;
  }
  return { events, nextToken: token };
}

export function AuditPage() {
  const client = useClient();
  const initial = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const [attributeKey, setAttributeKey] = useState(initial.get("resource") ? "ResourceName" : "EventName");
  const [attributeValue, setAttributeValue] = useState(initial.get("resource") ?? "");
  const [start, setStart] = useState(localInput(new Date(Date.now() - 86_400_000)));
  const [end, setEnd] = useState("");
  const [outcome, setOutcome] = useState("all");
  const [events, setEvents] = useState<TrailEvent[] | null>(null);
  const [nextToken, setNextToken] = useState<string | undefined>();
  const [query, setQuery] = useState<LookupQuery>({});
  const [act, error, busy] = useAction();
  const searches = useRef(0);

  const search = (event?: Event) => {
    event?.preventDefault();
    const next: LookupQuery = {
      attributeKey,
      attributeValue: attributeValue.trim(),
      startTime: start ? new Date(start) : undefined,
      endTime: end ? new Date(end) : undefined,
    };
    setQuery(next);
    const generation = ++searches.current;
    act(async () => {
      const page = await lookupFilled(client, next);
      if (generation !== searches.current) return;  // a newer search has started
      setEvents(page.events);
      setNextToken(page.nextToken);
    });
  };
  const more = () => {
    const generation = searches.current;
    act(async () => {
      const page = await lookupFilled(client, query, nextToken);
      if (generation !== searches.current) return;
      setEvents((old) => [...(old ?? []), ...page.events]);
      setNextToken(page.nextToken);
    });
  };

  // The last day's events as soon as the page opens.
  useEffect(() => search(), []);

  const shown = (events ?? []).filter((event) =>
    outcome === "all" ? true : outcome === "errors" ? !!eventError(event) : !eventError(event),
  );

  return (
    <div>
      <h1>Audit</h1>
      <TrailStatus />
      <form class="card filters" onSubmit={search} aria-label="Search the trail">
        <label>
          From
          <input type="datetime-local" value={start} onInput={(e) => setStart(e.currentTarget.value)} />
        </label>
        <label>
          To
          <input type="datetime-local" value={end} onInput={(e) => setEnd(e.currentTarget.value)} />
        </label>
        <label>
          Filter by
          <select value={attributeKey} onChange={(e) => setAttributeKey(e.currentTarget.value)} aria-label="Lookup attribute">
            {attributes.map(([key, label]) => <option value={key}>{label}</option>)}
          </select>
        </label>
        <label>
          Value
          <input value={attributeValue} aria-label="Lookup value" placeholder="e.g. Encrypt" onInput={(e) => setAttributeValue(e.currentTarget.value)} />
        </label>
        <label>
          Outcome
          <select value={outcome} onChange={(e) => setOutcome(e.currentTarget.value)} aria-label="Outcome">
            <option value="all">All</option>
            <option value="errors">Errors only</option>
            <option value="ok">Successes only</option>
          </select>
        </label>
        <button type="submit" disabled={busy}>Search</button>
      </form>
      <ErrorBox error={error} />
      {busy && !events ? <Loading what="events" /> : null}
      {events && shown.length === 0 ? <Empty>No event matches.</Empty> : null}
      {shown.length > 0 ? (
        <div class="table-wrap">
          <table class="events" id="audit-events">
            <thead><tr><th>Time</th><th>Operation</th><th>Identity</th><th>Key</th><th>Outcome</th></tr></thead>
            <tbody>
              {shown.map((event) => <EventRow event={event} />)}
            </tbody>
          </table>
        </div>
      ) : null}
      {nextToken ? <button class="secondary" disabled={busy} onClick={more}>Load more</button> : null}
    </div>
  );
}

function EventRow({ event }: { event: TrailEvent }) {
  const [open, setOpen] = useState(false);
  const error = eventError(event);
  const key = event.Resources?.find((r) => r.ResourceName)?.ResourceName ?? "";
  return (
    <>
      <tr class="clickable" onClick={() => setOpen(!open)} data-event-name={event.EventName}>
        <td>{formatDate(eventTime(event))}</td>
        <td>{event.EventName}</td>
        <td>{event.Username ?? "—"}</td>
        <td class="mono small">{key ? key.split("/").pop() : "—"}</td>
        <td>{error ? <span class="danger-text">{error}</span> : "OK"}</td>
      </tr>
      {open ? (
        <tr class="detail">
          <td colSpan={5}>
            <pre class="code">{JSON.stringify(eventDetail(event), null, 2)}</pre>
          </td>
        </tr>
      ) : null}
    </>
  );
}

// "Verify trail": the server's own trail, its last signed digest and whether it verified.
function TrailStatus() {
  const client = useClient();
  // kmsd keeps one trail per node, named "kmsd" (it has no DescribeTrails).
  const status = useLoad(async () => ({
    trail: { Name: trailName },
    status: await client.cloudtrail("GetTrailStatus", { Name: trailName }),
  }), []);
  const data = status.data;
  const digestError = data?.status?.LatestDigestDeliveryError;
  return (
    <Section title="Trail" id="trail-status">
      <ErrorBox error={status.error} />
      {status.loading && !data ? <Loading what="the trail's status" /> : null}
      {data?.trail ? (
        <dl class="facts">
          <dt>Trail</dt><dd class="mono">{data.trail.Name}</dd>
          <dt>Logging</dt><dd>{data.status?.IsLogging ? "on" : "off"}</dd>
          <dt>Last event delivered</dt><dd>{formatDate(data.status?.LatestDeliveryTime)}</dd>
          <dt>Last signed digest</dt><dd>{formatDate(data.status?.LatestDigestDeliveryTime)}</dd>
          <dt>Verification</dt>
          <dd id="trail-verified">
            {digestError || data.status?.LatestDeliveryAttemptSucceeded === "false" ? (
              <span class="danger-text">Not verified{digestError ? `: ${digestError}` : ""}</span>
            ) : data.status?.LatestDeliveryAttemptSucceeded === "true" || data.status?.LatestDigestDeliveryTime ? (
              <span class="ok">Verified{data.status?.LatestDeliveryAttemptTime ? ` (checked ${formatDate(data.status.LatestDeliveryAttemptTime)})` : ""}</span>
            ) : (
              <span class="muted">No signed digest yet</span>
            )}
          </dd>
        </dl>
      ) : null}
      <button class="secondary" onClick={status.reload}>Verify again</button>
    </Section>
  );
}
