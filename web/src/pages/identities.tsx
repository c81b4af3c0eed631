// Identities (IAM, Query protocol): users with their access keys and inline policies, roles with
// their trust and inline policies. Read-only: the aws CLI or an SDK changes them.
import { useState } from "preact/hooks";
import { xmlMembers, xmlText } from "../api";
import { Empty, ErrorBox, formatDate, Loading, Section, useClient, useLoad } from "../ui";

function prettyPolicy(encoded: string): string {
  let text = encoded;
  try { text = decodeURIComponent(encoded); } catch { /* as sent */ }
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

export function IdentitiesPage() {
  const client = useClient();
  const users = useLoad(async () => xmlMembers(await client.query("iam", "ListUsers", { MaxItems: "1000" }), "Users")
    .map((m) => ({ name: xmlText(m, "UserName"), arn: xmlText(m, "Arn"), created: xmlText(m, "CreateDate") })), []);
  const roles = useLoad(async () => xmlMembers(await client.query("iam", "ListRoles", { MaxItems: "1000" }), "Roles")
    .map((m) => ({ name: xmlText(m, "RoleName"), arn: xmlText(m, "Arn"), created: xmlText(m, "CreateDate"),
                   trust: xmlText(m, "AssumeRolePolicyDocument") })), []);
  const [selected, setSelected] = useState<{ kind: "user" | "role"; name: string; trust?: string } | null>(null);
  return (
    <div>
      <h1>Identities</h1>
      <div class="grid two">
        <Section title="Users" id="users">
          <ErrorBox error={users.error} />
          {users.loading && !users.data ? <Loading what="users" /> : null}
          {users.data && users.data.length === 0 ? <Empty>No IAM users.</Empty> : null}
          <ul class="plain selectable">
            {(users.data ?? []).map((user) => (
              <li class={selected?.name === user.name && selected.kind === "user" ? "active" : ""}>
                <button class="link" onClick={() => setSelected({ kind: "user", name: user.name })}>{user.name}</button>
                <span class="muted small"> {formatDate(user.created)}</span>
              </li>
            ))}
          </ul>
        </Section>
        <Section title="Roles" id="roles">
          <ErrorBox error={roles.error} />
          {roles.loading && !roles.data ? <Loading what="roles" /> : null}
          {roles.data && roles.data.length === 0 ? <Empty>No roles.</Empty> : null}
          <ul class="plain selectable">
            {(roles.data ?? []).map((role) => (
              <li class={selected?.name === role.name && selected.kind === "role" ? "active" : ""}>
                <button class="link" onClick={() => setSelected({ kind: "role", name: role.name, trust: role.trust })}>{role.name}</button>
                <span class="muted small"> {formatDate(role.created)}</span>
              </li>
            ))}
          </ul>
        </Section>
      </div>
      {selected ? <IdentityDetail {...selected} /> : null}
    </div>
  );
}

function IdentityDetail({ kind, name, trust }: { kind: "user" | "role"; name: string; trust?: string }) {
  const client = useClient();
  const nameParam: Record<string, string> = kind === "user" ? { UserName: name } : { RoleName: name };
  const keys = useLoad(async () => kind === "user"
    ? xmlMembers(await client.query("iam", "ListAccessKeys", nameParam), "AccessKeyMetadata")
        .map((m) => ({ id: xmlText(m, "AccessKeyId"), status: xmlText(m, "Status"), created: xmlText(m, "CreateDate") }))
    : [], [kind, name]);
  const policies = useLoad(async () => {
    const list = await client.query("iam", kind === "user" ? "ListUserPolicies" : "ListRolePolicies", nameParam);
    const names = xmlMembers(list, "PolicyNames").map((m) => m.textContent ?? "");
    return Promise.all(names.map(async (policyName) => {
      const answer = await client.query("iam", kind === "user" ? "GetUserPolicy" : "GetRolePolicy", { ...nameParam, PolicyName: policyName });
      return { name: policyName, document: prettyPolicy(xmlText(answer, "PolicyDocument")) };
    }));
  }, [kind, name]);
  return (
    <Section title={`${kind === "user" ? "User" : "Role"} ${name}`} id="identity-detail">
      {kind === "user" ? (
        <>
          <h3>Access keys</h3>
          <ErrorBox error={keys.error} />
          {keys.data && keys.data.length === 0 ? <p class="muted">No access keys.</p> : null}
          <ul class="plain">
            {(keys.data ?? []).map((key) => <li class="mono">{key.id} · {key.status} · {formatDate(key.created)}</li>)}
          </ul>
        </>
      ) : (
        <>
          <h3>Trust policy</h3>
          <pre class="code">{prettyPolicy(trust ?? "")}</pre>
        </>
      )}
      <h3>Inline policies</h3>
      <ErrorBox error={policies.error} />
      {policies.data && policies.data.length === 0 ? <p class="muted">No inline policies.</p> : null}
      {(policies.data ?? []).map((policy) => (
        <details open>
          <summary>{policy.name}</summary>
          <pre class="code">{policy.document}</pre>
        </details>
      ))}
    </Section>
  );
}
