// Try it: encrypt and decrypt a short text, generate a data key. Every call is audited like any.
import { useState } from "preact/hooks";
import { fromBase64, toBase64 } from "../api";
import { ErrorBox, Section, useAction, useClient } from "../ui";

export function TryPage() {
  const client = useClient();
  const [keyId, setKeyId] = useState("");
  const [plaintext, setPlaintext] = useState("");
  const [ciphertext, setCiphertext] = useState("");
  const [decrypted, setDecrypted] = useState<string | null>(null);
  const [dataKey, setDataKey] = useState<{ plaintext: string; ciphertext: string } | null>(null);
  const [act, error, busy] = useAction();

  const encrypt = () => act(async () => {
    const answer = await client.kms("Encrypt", { KeyId: keyId.trim(), Plaintext: toBase64(new TextEncoder().encode(plaintext)) });
    setCiphertext(answer.CiphertextBlob);
  });
  const decrypt = () => act(async () => {
    setDecrypted(null);
    const request: Record<string, unknown> = { CiphertextBlob: ciphertext.trim() };
    if (keyId.trim()) request.KeyId = keyId.trim();
    const answer = await client.kms("Decrypt", request);
    setDecrypted(new TextDecoder().decode(fromBase64(answer.Plaintext)));
  });
  const generate = () => act(async () => {
    const answer = await client.kms("GenerateDataKey", { KeyId: keyId.trim(), KeySpec: "AES_256" });
    setDataKey({ plaintext: answer.Plaintext, ciphertext: answer.CiphertextBlob });
  });

  return (
    <div>
      <h1>Try it</h1>
      <Section title="Key">
        <label>
          Key id, ARN or alias
          <input name="tryKeyId" placeholder="alias/payments" value={keyId} onInput={(e) => setKeyId(e.currentTarget.value)} />
        </label>
      </Section>
      <div class="grid two">
        <Section title="Encrypt" id="try-encrypt">
          <label>
            Text (up to 4096 bytes)
            <textarea name="plaintext" rows={3} maxLength={4096} value={plaintext} onInput={(e) => setPlaintext(e.currentTarget.value)} />
          </label>
          <button disabled={busy || !keyId} onClick={encrypt}>Encrypt</button>
        </Section>
        <Section title="Decrypt" id="try-decrypt">
          <label>
            Ciphertext (base64)
            <textarea name="ciphertext" class="code" rows={3} value={ciphertext} onInput={(e) => setCiphertext(e.currentTarget.value)} />
          </label>
          <button disabled={busy || !ciphertext} onClick={decrypt}>Decrypt</button>
          {decrypted !== null ? <p>Plaintext: <output id="decrypted">{decrypted}</output></p> : null}
        </Section>
      </div>
      <Section title="Generate a data key" id="try-data-key">
        <button disabled={busy || !keyId} onClick={generate}>Generate data key (AES_256)</button>
        {dataKey ? (
          <dl class="facts">
            <dt>Plaintext key (base64)</dt><dd class="mono wrap">{dataKey.plaintext}</dd>
            <dt>Encrypted key (base64)</dt><dd class="mono wrap">{dataKey.ciphertext}</dd>
          </dl>
        ) : null}
        <p class="muted small">The plaintext key is shown for trying things out; a real client uses it in memory and keeps only the encrypted copy.</p>
      </Section>
      <ErrorBox error={error} />
    </div>
  );
}
