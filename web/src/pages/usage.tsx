// A key's usage: calls per hour over the last 7 days by operation and outcome (CloudTrail
// LookupEvents by ResourceName), a hand-drawn SVG chart, and the latest events below it.
import { useMemo, useState } from "preact/hooks";
import { eventError, eventTime, lookupAll, type TrailEvent } from "../trail";
import { Empty, ErrorBox, formatDate, Loading, Section, useClient, useLoad } from "../ui";

const weekHours = 7 * 24;
const palette = ["#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#64748b"];

export function Usage({ keyArn, keyId }: { keyArn: string; keyId: string }) {
  const client = useClient();
  const [hours, setHours] = useState(weekHours);
  const usage = useLoad(async () => {
    const now = new Date();
    const start = new Date(now.getTime() - weekHours * 3_600_000);
    return { ...(await lookupAll(client, { attributeKey: "ResourceName", attributeValue: keyArn, startTime: start, endTime: now })), now };
  }, [keyArn]);
  return (
    <Section title={hours === weekHours ? "Usage, last 7 days" : "Usage, last 24 hours"} id="usage">
      <div class="segmented" role="group" aria-label="Chart range">
        <button class={hours === weekHours ? "" : "secondary"} aria-pressed={hours === weekHours} onClick={() => setHours(weekHours)}>7 days</button>
        <button class={hours === 24 ? "" : "secondary"} aria-pressed={hours === 24} onClick={() => setHours(24)}>24 hours</button>
      </div>
      <ErrorBox error={usage.error} />
      {usage.loading && !usage.data ? <Loading what="the key's events" /> : null}
      {usage.data ? (
        usage.data.events.length === 0 ? (
          <Empty>No calls with this key in the last 7 days.</Empty>
        ) : (
          <>
            <UsageChart events={usage.data.events} now={usage.data.now} hours={hours} />
            <OutcomeTable events={usage.data.events} />
            {usage.data.truncated ? <p class="muted">Showing the latest {usage.data.events.length} events.</p> : null}
            <h3>Latest events</h3>
            <div class="table-wrap">
              <table class="events">
                <thead><tr><th>Time</th><th>Operation</th><th>Identity</th><th>Outcome</th></tr></thead>
                <tbody>
                  {usage.data.events.slice(0, 15).map((event) => (
                    <tr>
                      <td>{formatDate(eventTime(event))}</td>
                      <td>{event.EventName}</td>
                      <td>{event.Username ?? "—"}</td>
                      <td>{eventError(event) ? <span class="danger-text">{eventError(event)}</span> : "OK"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <p><a href={`#/audit?resource=${encodeURIComponent(keyArn)}`}>All events of {keyId} in the audit page</a></p>
          </>
        )
      ) : null}
    </Section>
  );
}

// Calls by operation and outcome over the whole period.
function OutcomeTable({ events }: { events: TrailEvent[] }) {
  const rows = useMemo(() => {
    const counts = new Map<string, { ok: number; failed: Map<string, number> }>();
    for (const event of events) {
      const entry = counts.get(event.EventName) ?? { ok: 0, failed: new Map() };
      const error = eventError(event);
      if (error) entry.failed.set(error, (entry.failed.get(error) ?? 0) + 1);
      else entry.ok++;
      counts.set(event.EventName, entry);
    }
    return [...counts.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [events]);
  return (
    <details class="outcomes">
      <summary>Calls by operation and outcome</summary>
      <div class="table-wrap">
        <table id="usage-outcomes">
          <thead><tr><th>Operation</th><th>Succeeded</th><th>Failed</th></tr></thead>
          <tbody>
            {rows.map(([operation, entry]) => (
              <tr>
                <td>{operation}</td>
                <td>{entry.ok}</td>
                <td>{entry.failed.size ? [...entry.failed.entries()].map(([error, count]) => <div class="danger-text">{count} {error}</div>) : 0}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

export function UsageChart({ events, now, hours }: { events: TrailEvent[]; now: Date; hours: number }) {
  const model = useMemo(() => {
    const end = Math.ceil(now.getTime() / 3_600_000) * 3_600_000;
    const start = end - hours * 3_600_000;
    const operations = [...new Set(events.map((event) => event.EventName))].sort();
    const buckets = Array.from({ length: hours }, () => ({ ok: new Map<string, number>(), errors: 0 }));
    for (const event of events) {
      const time = eventTime(event)?.getTime();
      if (time === undefined || time < start || time >= end) continue;
      const bucket = buckets[Math.floor((time - start) / 3_600_000)];
      if (eventError(event)) bucket.errors++;
      else bucket.ok.set(event.EventName, (bucket.ok.get(event.EventName) ?? 0) + 1);
    }
    const totals = buckets.map((b) => b.errors + [...b.ok.values()].reduce((a, c) => a + c, 0));
    return { start, operations, buckets, max: Math.max(1, ...totals), total: totals.reduce((a, c) => a + c, 0) };
  }, [events, now, hours]);

  const width = 720, height = 200, left = 36, bottom = 22, top = 8;
  const plotHeight = height - bottom - top;
  const barWidth = (width - left) / hours;
  const color = (operation: string) => palette[model.operations.indexOf(operation) % palette.length];
  const scale = (count: number) => (count / model.max) * plotHeight;
  // Ticks: each day over a week, every 3 hours over a day.
  const tickHours = hours > 24 ? 24 : 3;
  const ticks = Array.from({ length: hours / tickHours + 1 }, (_, i) => i * tickHours);
  const tickLabel = (hour: number) => {
    const iso = new Date(model.start + hour * 3_600_000).toISOString();
    return hours > 24 ? iso.slice(5, 10) : iso.slice(11, 16);
  };

  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`Calls per hour: ${model.total} in ${hours === weekHours ? "7 days" : "24 hours"}`} id="usage-chart">
        <line x1={left} y1={top + plotHeight} x2={width} y2={top + plotHeight} class="axis" />
        <text x={left - 4} y={top + 8} class="tick" text-anchor="end">{model.max}</text>
        <text x={left - 4} y={top + plotHeight} class="tick" text-anchor="end">0</text>
        {ticks.map((hour) => (
          <text x={left + hour * barWidth} y={height - 6} class="tick" text-anchor={hour === hours ? "end" : "middle"}>
            {tickLabel(hour)}
          </text>
        ))}
        {model.buckets.map((bucket, index) => {
          let y = top + plotHeight;
          const x = left + index * barWidth;
          const parts = [];
          for (const operation of model.operations) {
            const count = bucket.ok.get(operation) ?? 0;
            if (!count) continue;
            y -= scale(count);
            parts.push(
              <rect x={x} y={y} width={Math.max(barWidth - 0.5, 1)} height={scale(count)} fill={color(operation)}>
                <title>{`${new Date(model.start + index * 3_600_000).toISOString().slice(0, 13)}:00 UTC · ${operation}: ${count}`}</title>
              </rect>,
            );
          }
          if (bucket.errors) {
            y -= scale(bucket.errors);
            parts.push(
              <rect x={x} y={y} width={Math.max(barWidth - 0.5, 1)} height={scale(bucket.errors)} class="error-bar">
                <title>{`${new Date(model.start + index * 3_600_000).toISOString().slice(0, 13)}:00 UTC · errors: ${bucket.errors}`}</title>
              </rect>,
            );
          }
          return parts;
        })}
      </svg>
      <figcaption class="legend">
        {model.operations.map((operation) => (
          <span><i class="swatch" style={{ background: color(operation) }} /> {operation}</span>
        ))}
        <span><i class="swatch error-swatch" /> failed calls</span>
        <span class="muted">· {model.total} calls</span>
      </figcaption>
    </figure>
  );
}
