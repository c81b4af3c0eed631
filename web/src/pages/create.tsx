// Create key: spec, usage, description, alias, tags and the key policy (the default shown).
import { useState } from "preact/hooks";
import { ErrorBox, go, useAction, useClient, useSession } from "../ui";

const usagesBySpec: Record<string, string[]> = {
  SYMMETRIC_DEFAULT: ["ENCRYPT_DECRYPT"],
  RSA_2048: ["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
  RSA_3072: ["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
  RSA_4096: ["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
  ECC_NIST_P256: ["SIGN_VERIFY", "KEY_AGREEMENT"],
  ECC_NIST_P384: ["SIGN_VERIFY", "KEY_AGREEMENT"],
  ECC_NIST_P521: ["SIGN_VERIFY", "KEY_AGREEMENT"],
  ECC_SECG_P256K1: ["SIGN_VERIFY"],
  HMAC_224: ["GENERATE_VERIFY_MAC"],
  HMAC_256: ["GENERATE_VERIFY_MAC"],
  HMAC_384: ["GENERATE_VERIFY_MAC"],
  HMAC_512: ["GENERATE_VERIFY_MAC"],
};

export function defaultPolicy(account: string): string {
  return JSON.stringify(
    {
      Version: "2012-10-17",
      Id: "key-default-1",
      Statement: [
        {
          Sid: "Enable IAM User Permissions",
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${account}:root` },
          Action: "kms:*",
          Resource: "*",
        },
      ],
    },
    null,
    2,
  );
}

export function CreateKeyPage() {
  const client = useClient();
  const session = useSession();
  const [spec, setSpec] = useState("SYMMETRIC_DEFAULT");
  const [usage, setUsage] = useState("ENCRYPT_DECRYPT");
  const [description, setDescription] = useState("");
  const [alias, setAlias] = useState("");
  const [tags, setTags] = useState("");
  const [policy, setPolicy] = useState(defaultPolicy(session.account || "111122223333"));
  const [act, error, busy] = useAction();
  const [created, setCreated] = useState<string | null>(null);

  let policyError = "";
  try { JSON.parse(policy); } catch (e) { policyError = (e as Error).message; }
  const parsedTags = tags.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const equals = line.indexOf("=");
    return equals < 0 ? { TagKey: line, TagValue: "" } : { TagKey: line.slice(0, equals).trim(), TagValue: line.slice(equals + 1).trim() };
  });

  const submit = (event: Event) => {
    event.preventDefault();
    act(async () => {
      const request: Record<string, unknown> = { KeySpec: spec, KeyUsage: usage, Policy: policy };
      if (description) request.Description = description;
      if (parsedTags.length) request.Tags = parsedTags;
      const { KeyMetadata } = await client.kms("CreateKey", request);
      setCreated(KeyMetadata.KeyId);
      if (alias.trim()) {
        const name = alias.trim().startsWith("alias/") ? alias.trim() : `alias/${alias.trim()}`;
        await client.kms("CreateAlias", { AliasName: name, TargetKeyId: KeyMetadata.KeyId });
      }
      go(`#/keys/${KeyMetadata.KeyId}`);
    });
  };

  return (
    <div>
      <h1>Create key</h1>
      <form class="card form" onSubmit={submit} aria-label="Create key">
        <div class="row">
          <label>
            Key spec
            <select name="keySpec" value={spec} onChange={(e) => { const next = e.currentTarget.value; setSpec(next); setUsage(usagesBySpec[next][0]); }}>
              {Object.keys(usagesBySpec).map((name) => <option value={name}>{name}</option>)}
            </select>
          </label>
          <label>
            Key usage
            <select name="keyUsage" value={usage} onChange={(e) => setUsage(e.currentTarget.value)}>
              {usagesBySpec[spec].map((name) => <option value={name}>{name}</option>)}
            </select>
          </label>
        </div>
        <label>
          Alias <span class="muted">(optional)</span>
          <input name="alias" placeholder="alias/payments" value={alias} onInput={(e) => setAlias(e.currentTarget.value)} />
        </label>
        <label>
          Description <span class="muted">(optional)</span>
          <input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </label>
        <label>
          Tags <span class="muted">(one Key=Value a line)</span>
          <textarea name="tags" rows={3} value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
        </label>
        <label>
          Key policy
          <textarea name="policy" class="code" rows={14} spellcheck={false} value={policy} onInput={(e) => setPolicy(e.currentTarget.value)} />
        </label>
        {policyError ? <p class="error">Not valid JSON: {policyError}</p> : null}
        <button type="submit" disabled={busy || !!policyError}>{busy ? "Creating…" : "Create key"}</button>
        {created && error ? <p class="notice">The key {created} was created, but its alias was not:</p> : null}
        <ErrorBox error={error} />
      </form>
    </div>
  );
}
