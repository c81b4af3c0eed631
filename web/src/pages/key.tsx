// One key: metadata, state, deletion, aliases, rotation, tags, policy, grants and usage. Each
// section loads and fails on its own, so a identity allowed only part of it sees that part and
// AWS's AccessDenied message for the rest.
import { useState } from "preact/hooks";
import {
  ErrorBox, formatDate, Loading, relativeDays, Section, StateBadge, toDate, useAction, useClient, useLoad,
} from "../ui";
import { Usage } from "./usage";

export function KeyPage({ keyId }: { keyId: string }) {
  const client = useClient();
  const key = useLoad(() => client.kms("DescribeKey", { KeyId: keyId }).then((r) => r.KeyMetadata), [keyId]);
  const metadata = key.data;
  return (
    <div>
      <p><a href="#/keys">← Keys</a></p>
      <h1 class="mono key-title">{keyId}</h1>
      <ErrorBox error={key.error} />
      {key.loading && !metadata ? <Loading what="the key" /> : null}
      {metadata ? (
        <div class="grid">
          <Overview metadata={metadata} onChange={key.reload} />
          <Aliases keyId={metadata.KeyId} />
          {metadata.KeySpec === "SYMMETRIC_DEFAULT" && metadata.Origin === "AWS_KMS" ? <Rotation keyId={metadata.KeyId} /> : null}
          <Tags keyId={metadata.KeyId} />
          <Policy keyId={metadata.KeyId} />
          <Grants keyId={metadata.KeyId} />
          <Usage keyArn={metadata.Arn} keyId={metadata.KeyId} />
        </div>
      ) : null}
    </div>
  );
}

function Overview({ metadata, onChange }: { metadata: any; onChange: () => void }) {
  const client = useClient();
  const [act, error, busy] = useAction();
  const [days, setDays] = useState("30");
  const [confirming, setConfirming] = useState(false);
  const deletion = toDate(metadata.DeletionDate);
  const run = (operation: string, request: object) => act(() => client.kms(operation, request)).then((ok) => ok && onChange());
  const state = metadata.KeyState;
  return (
    <Section title="Overview" id="overview">
      <dl class="facts">
        <dt>State</dt><dd><StateBadge state={state} /></dd>
        <dt>ARN</dt><dd class="mono">{metadata.Arn}</dd>
        <dt>Description</dt><dd>{metadata.Description || <span class="muted">—</span>}</dd>
        <dt>Key spec</dt><dd>{metadata.KeySpec}</dd>
        <dt>Key usage</dt><dd>{metadata.KeyUsage}</dd>
        <dt>Origin</dt><dd>{metadata.Origin}</dd>
        <dt>Manager</dt><dd>{metadata.KeyManager}</dd>
        <dt>Created</dt><dd>{formatDate(metadata.CreationDate)}</dd>
        {metadata.MultiRegion ? (<><dt>Multi-Region</dt><dd>yes</dd></>) : null}
        {metadata.EncryptionAlgorithms ? (<><dt>Encryption algorithms</dt><dd>{metadata.EncryptionAlgorithms.join(", ")}</dd></>) : null}
        {metadata.SigningAlgorithms ? (<><dt>Signing algorithms</dt><dd>{metadata.SigningAlgorithms.join(", ")}</dd></>) : null}
        {metadata.MacAlgorithms ? (<><dt>MAC algorithms</dt><dd>{metadata.MacAlgorithms.join(", ")}</dd></>) : null}
      </dl>
      {deletion ? (
        <div class="warning" role="status" id="deletion-notice">
          This key will be deleted on <strong>{formatDate(deletion)}</strong> ({relativeDays(deletion)}). Until then
          it cannot be used; cancelling leaves it Disabled.
        </div>
      ) : null}
      <div class="actions">
        {state === "Enabled" ? <button disabled={busy} onClick={() => run("DisableKey", { KeyId: metadata.KeyId })}>Disable key</button> : null}
        {state === "Disabled" ? <button disabled={busy} onClick={() => run("EnableKey", { KeyId: metadata.KeyId })}>Enable key</button> : null}
        {state === "PendingDeletion" || state === "PendingReplicaDeletion" ? (
          <button disabled={busy} onClick={() => run("CancelKeyDeletion", { KeyId: metadata.KeyId })}>Cancel deletion</button>
        ) : confirming ? (
          <span class="confirm">
            <label>
              Waiting period (7–30 days)
              <input type="number" min={7} max={30} value={days} aria-label="Waiting period in days"
                     onInput={(e) => setDays(e.currentTarget.value)} />
            </label>
            <button class="danger" disabled={busy}
                    onClick={() => run("ScheduleKeyDeletion", { KeyId: metadata.KeyId, PendingWindowInDays: Number(days) }).then(() => setConfirming(false))}>
              Schedule deletion
            </button>
            <button class="secondary" onClick={() => setConfirming(false)}>Keep the key</button>
          </span>
        ) : (
          <button class="danger" onClick={() => setConfirming(true)}>Schedule deletion…</button>
        )}
      </div>
      <ErrorBox error={error} />
    </Section>
  );
}

function Aliases({ keyId }: { keyId: string }) {
  const client = useClient();
  const aliases = useLoad(() => client.kms("ListAliases", { KeyId: keyId }).then((r) => r.Aliases ?? []), [keyId]);
  const [name, setName] = useState("alias/");
  const [act, error, busy] = useAction();
  return (
    <Section title="Aliases" id="aliases">
      <ErrorBox error={aliases.error} />
      {aliases.data && aliases.data.length === 0 ? <p class="muted">No alias.</p> : null}
      <ul class="plain">
        {(aliases.data ?? []).map((alias: any) => (
          <li>
            <span class="mono">{alias.AliasName}</span>{" "}
            <button class="link" disabled={busy}
                    onClick={() => act(() => client.kms("DeleteAlias", { AliasName: alias.AliasName })).then(aliases.reload)}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form class="inline" onSubmit={(e) => { e.preventDefault(); act(() => client.kms("CreateAlias", { AliasName: name.trim(), TargetKeyId: keyId })).then((ok) => { if (ok) { setName("alias/"); aliases.reload(); } }); }}>
        <input aria-label="New alias" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <button type="submit" disabled={busy}>Add alias</button>
      </form>
      <ErrorBox error={error} />
    </Section>
  );
}

function Rotation({ keyId }: { keyId: string }) {
  const client = useClient();
  const status = useLoad(() => client.kms("GetKeyRotationStatus", { KeyId: keyId }), [keyId]);
  const history = useLoad(() => client.kms("ListKeyRotations", { KeyId: keyId, Limit: 100 }).then((r) => r.Rotations ?? []), [keyId]);
  const [period, setPeriod] = useState("365");
  const [act, error, busy] = useAction();
  const reload = () => { status.reload(); history.reload(); };
  const run = (operation: string, request: object) => act(() => client.kms(operation, request)).then((ok) => ok && reload());
  return (
    <Section title="Rotation" id="rotation">
      <ErrorBox error={status.error} />
      {status.data ? (
        <dl class="facts">
          <dt>Automatic rotation</dt><dd>{status.data.KeyRotationEnabled ? "On" : "Off"}</dd>
          {status.data.RotationPeriodInDays ? (<><dt>Period</dt><dd>{status.data.RotationPeriodInDays} days</dd></>) : null}
          {status.data.NextRotationDate ? (<><dt>Next rotation</dt><dd>{formatDate(status.data.NextRotationDate)} ({relativeDays(toDate(status.data.NextRotationDate))})</dd></>) : null}
          {status.data.OnDemandRotationStartDate ? (<><dt>On-demand rotation started</dt><dd>{formatDate(status.data.OnDemandRotationStartDate)}</dd></>) : null}
        </dl>
      ) : null}
      <div class="actions">
        {status.data?.KeyRotationEnabled ? (
          <button disabled={busy} onClick={() => run("DisableKeyRotation", { KeyId: keyId })}>Turn rotation off</button>
        ) : (
          <span class="inline">
            <input type="number" min={90} max={2560} value={period} aria-label="Rotation period in days"
                   onInput={(e) => setPeriod(e.currentTarget.value)} />
            <button disabled={busy} onClick={() => run("EnableKeyRotation", { KeyId: keyId, RotationPeriodInDays: Number(period) })}>
              Turn rotation on
            </button>
          </span>
        )}
        <button class="secondary" disabled={busy} onClick={() => run("RotateKeyOnDemand", { KeyId: keyId })}>Rotate now</button>
      </div>
      <ErrorBox error={error} />
      <h3>History</h3>
      <ErrorBox error={history.error} />
      {history.data && history.data.length === 0 ? <p class="muted">Never rotated.</p> : null}
      {history.data && history.data.length > 0 ? (
        <ul class="plain">
          {history.data.map((rotation: any) => (
            <li>{formatDate(rotation.RotationDate)} · {rotation.RotationType === "ON_DEMAND" ? "on demand" : "automatic"}</li>
          ))}
        </ul>
      ) : null}
    </Section>
  );
}

function Tags({ keyId }: { keyId: string }) {
  const client = useClient();
  const tags = useLoad(() => client.kms("ListResourceTags", { KeyId: keyId, Limit: 50 }).then((r) => r.Tags ?? []), [keyId]);
  const [tagKey, setTagKey] = useState("");
  const [tagValue, setTagValue] = useState("");
  const [act, error, busy] = useAction();
  return (
    <Section title="Tags" id="tags">
      <ErrorBox error={tags.error} />
      {tags.data && tags.data.length === 0 ? <p class="muted">No tags.</p> : null}
      <ul class="plain">
        {(tags.data ?? []).map((tag: any) => (
          <li>
            <span class="tag">{tag.TagKey} = {tag.TagValue}</span>{" "}
            <button class="link" disabled={busy}
                    onClick={() => act(() => client.kms("UntagResource", { KeyId: keyId, TagKeys: [tag.TagKey] })).then(tags.reload)}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form class="inline" onSubmit={(e) => { e.preventDefault(); act(() => client.kms("TagResource", { KeyId: keyId, Tags: [{ TagKey: tagKey, TagValue: tagValue }] })).then((ok) => { if (ok) { setTagKey(""); setTagValue(""); tags.reload(); } }); }}>
        <input aria-label="Tag key" placeholder="Key" required value={tagKey} onInput={(e) => setTagKey(e.currentTarget.value)} />
        <input aria-label="Tag value" placeholder="Value" value={tagValue} onInput={(e) => setTagValue(e.currentTarget.value)} />
        <button type="submit" disabled={busy}>Add tag</button>
      </form>
      <ErrorBox error={error} />
    </Section>
  );
}

// The policy editor: JSON checked as typed; the server's own check (MalformedPolicyDocument and
// its message) shown on save.
function Policy({ keyId }: { keyId: string }) {
  const client = useClient();
  const [text, setText] = useState<string | null>(null);
  const policy = useLoad(async () => {
    const { Policy } = await client.kms("GetKeyPolicy", { KeyId: keyId, PolicyName: "default" });
    let shown = Policy;
    try { shown = JSON.stringify(JSON.parse(Policy), null, 2); } catch { /* shown as stored */ }
    setText(shown);
    return shown;
  }, [keyId]);
  const [act, error, busy, clearError] = useAction();
  const [saved, setSaved] = useState(false);
  let jsonError = "";
  if (text !== null) {
    try { JSON.parse(text); } catch (e) { jsonError = (e as Error).message; }
  }
  return (
    <Section title="Key policy" id="policy">
      <ErrorBox error={policy.error} />
      {text !== null ? (
        <>
          <textarea class="code" rows={14} spellcheck={false} aria-label="Key policy" value={text}
                    onInput={(e) => { setText(e.currentTarget.value); setSaved(false); clearError(); }} />
          {jsonError ? <p class="error" id="policy-json-error">Not valid JSON: {jsonError}</p> : null}
          <div class="actions">
            <button disabled={busy || !!jsonError}
                    onClick={() => act(() => client.kms("PutKeyPolicy", { KeyId: keyId, PolicyName: "default", Policy: text })).then((ok) => setSaved(ok))}>
              Save policy
            </button>
            <button class="secondary" disabled={busy} onClick={() => { policy.reload(); setSaved(false); clearError(); }}>Revert</button>
            {saved ? <span class="ok" role="status">Saved.</span> : null}
          </div>
          <ErrorBox error={error} />
        </>
      ) : policy.loading ? <Loading what="the policy" /> : null}
    </Section>
  );
}

const grantOperations = [
  "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
  "DescribeKey", "CreateGrant", "RetireGrant", "Sign", "Verify", "GetPublicKey", "GenerateMac", "VerifyMac",
];

function Grants({ keyId }: { keyId: string }) {
  const client = useClient();
  const grants = useLoad(() => client.kms("ListGrants", { KeyId: keyId, Limit: 100 }).then((r) => r.Grants ?? []), [keyId]);
  const [grantee, setGrantee] = useState("");
  const [operations, setOperations] = useState<string[]>(["Decrypt"]);
  const [act, error, busy] = useAction();
  const toggle = (operation: string) =>
    setOperations((old) => (old.includes(operation) ? old.filter((o) => o !== operation) : [...old, operation]));
  return (
    <Section title="Grants" id="grants">
      <ErrorBox error={grants.error} />
      {grants.data && grants.data.length === 0 ? <p class="muted">No grants.</p> : null}
      {grants.data && grants.data.length > 0 ? (
        <div class="table-wrap">
          <table>
            <thead><tr><th>Grantee</th><th>Operations</th><th>Created</th><th></th></tr></thead>
            <tbody>
              {grants.data.map((grant: any) => (
                <tr>
                  <td class="mono">{grant.GranteePrincipal}</td>
                  <td>{(grant.Operations ?? []).join(", ")}</td>
                  <td>{formatDate(grant.CreationDate)}</td>
                  <td>
                    <button class="link" disabled={busy}
                            onClick={() => act(() => client.kms("RevokeGrant", { KeyId: keyId, GrantId: grant.GrantId })).then(grants.reload)}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <form onSubmit={(e) => { e.preventDefault(); act(() => client.kms("CreateGrant", { KeyId: keyId, GranteePrincipal: grantee.trim(), Operations: operations })).then((ok) => { if (ok) { setGrantee(""); grants.reload(); } }); }}>
        <label>
          Grantee principal (ARN)
          <input required value={grantee} placeholder="arn:aws:iam::111122223333:user/name" onInput={(e) => setGrantee(e.currentTarget.value)} />
        </label>
        <fieldset class="checks">
          <legend>Operations</legend>
          {grantOperations.map((operation) => (
            <label class="check"><input type="checkbox" checked={operations.includes(operation)} onChange={() => toggle(operation)} /> {operation}</label>
          ))}
        </fieldset>
        <button type="submit" disabled={busy || operations.length === 0}>Create grant</button>
      </form>
      <ErrorBox error={error} />
    </Section>
  );
}
