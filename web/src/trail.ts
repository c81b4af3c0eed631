// CloudTrail LookupEvents, as documented (JSON 1.1; LookupAttributes holds at most one
// attribute; 50 events a page at most; NextToken pages), and what the console reads of an event.
import type { Client } from "./api";

export interface TrailEvent {
  EventId: string;
  EventName: string;
  EventTime?: number;
  EventSource?: string;
  Username?: string;
  AccessKeyId?: string;
  Resources?: { ResourceType?: string; ResourceName?: string }[];
  CloudTrailEvent?: string;
}

export interface LookupQuery {
  attributeKey?: string;
  attributeValue?: string;
  startTime?: Date;
  endTime?: Date;
}

export async function lookupPage(client: Client, query: LookupQuery, nextToken?: string, maxResults = 50) {
  const request: Record<string, unknown> = { MaxResults: maxResults };
  if (query.attributeKey && query.attributeValue) {
    request.LookupAttributes = [{ AttributeKey: query.attributeKey, AttributeValue: query.attributeValue }];
  }
  if (query.startTime) request.StartTime = query.startTime.getTime() / 1000;
  if (query.endTime) request.EndTime = query.endTime.getTime() / 1000;
  if (nextToken) request.NextToken = nextToken;
  const page = await client.cloudtrail("LookupEvents", request);
  return { events: (page.Events ?? []) as TrailEvent[], nextToken: page.NextToken as string | undefined };
}

// Up to `maxPages` pages, newest first.
export async function lookupAll(client: Client, query: LookupQuery, maxPages = 20) {
  const events: TrailEvent[] = [];
  let token: string | undefined;
  let truncated = false;
  for (let page = 0; page < maxPages; page++) {
    const answer = await lookupPage(client, query, token);
    events.push(...answer.events);
    token = answer.nextToken;
    if (!token) break;
    truncated = page === maxPages - 1;
  }
  return { events, truncated };
}

export function eventDetail(event: TrailEvent): any {
  try {
    return event.CloudTrailEvent ? JSON.parse(event.CloudTrailEvent) : {};
  } catch {
    return {};
  }
}

// The error code of a failed call, or "" for a success.
export function eventError(event: TrailEvent): string {
  return String(eventDetail(event).errorCode ?? "");
}

export function eventTime(event: TrailEvent): Date | null {
  if (event.EventTime === undefined) return null;
  const value = typeof event.EventTime === "number" ? event.EventTime * 1000 : Date.parse(String(event.EventTime));
  return isNaN(value) ? null : new Date(value);
}
