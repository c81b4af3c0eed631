"""Access control with real clients and several identities: IAM users, key policies, grants, a role
assumed through STS, refused credentials, and what the audit trail says of each call. Debian's
boto3 and aws CLI (profiles), as a team would use them."""
import base64
import glob
import json
import os
import subprocess
import unittest

from kmsd_harness import ACCOUNT_ID, KMSD_BINARY, REGION, KmsdTestCase

ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"


def user_arn(name):
    return f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ROOT_STATEMENT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                  "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}


class AccessControl(KmsdTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.iam = cls.server.client(service="iam")
        cls.sts = cls.server.client(service="sts")
        cls.users = {}

    def new_user(self, name, inline_policy=None):
        """An IAM user with one access key (and an inline policy); returns (kms client, keys)."""
        self.iam.create_user(UserName=name)
        if inline_policy:
            self.iam.put_user_policy(UserName=name, PolicyName="inline",
                                     PolicyDocument=json.dumps(inline_policy))
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        self.assertEqual(key["Status"], "Active")
        keys = (key["AccessKeyId"], key["SecretAccessKey"])
        self.users[name] = keys
        return self.server.client(*keys), keys

    def assertDenied(self, call, *args, **kwargs):
        error = self.assertAwsError("AccessDeniedException", call, *args, **kwargs)
        return error.response["Error"]["Message"]

    def key_arn(self, key_id):
        return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"

    # --- identities

    def test_caller_identity_of_root_and_of_a_user(self):
        me = self.sts.get_caller_identity()
        self.assertEqual(me["Arn"], ROOT_ARN)
        self.assertEqual(me["Account"], ACCOUNT_ID)
        _, keys = self.new_user("who-am-i")
        me = self.server.client(*keys, service="sts").get_caller_identity()
        self.assertEqual(me["Arn"], user_arn("who-am-i"))
        self.assertTrue(me["UserId"].startswith("AIDA"))

    def test_iam_errors_in_iams_shapes(self):
        self.iam.create_user(UserName="twice")
        with self.assertRaises(self.iam.exceptions.EntityAlreadyExistsException):
            self.iam.create_user(UserName="twice")
        with self.assertRaises(self.iam.exceptions.NoSuchEntityException):
            self.iam.get_user(UserName="nobody-by-this-name")
        self.iam.create_access_key(UserName="twice")
        self.iam.create_access_key(UserName="twice")
        with self.assertRaises(self.iam.exceptions.LimitExceededException):
            self.iam.create_access_key(UserName="twice")
        with self.assertRaises(self.iam.exceptions.DeleteConflictException):
            self.iam.delete_user(UserName="twice")
        with self.assertRaises(self.iam.exceptions.MalformedPolicyDocumentException):
            self.iam.put_user_policy(UserName="twice", PolicyName="p", PolicyDocument="{not json")

    def test_a_user_without_iam_permission_cannot_create_users_and_an_admin_can(self):
        plain, _ = self.new_user("plain-user")
        with self.assertRaises(self.iam.exceptions.ClientError) as raised:
            self.server.client(*self.users["plain-user"], service="iam").create_user(UserName="x1")
        self.assertEqual(raised.exception.response["Error"]["Code"], "AccessDenied")
        _, admin_keys = self.new_user("iam-admin", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})
        made = self.server.client(*admin_keys, service="iam").create_user(UserName="made-by-admin")
        self.assertEqual(made["User"]["Arn"], user_arn("made-by-admin"))

    # --- identity policies and key policies

    def test_a_user_that_may_only_encrypt_with_one_key(self):
        key_a = self.kms.create_key()["KeyMetadata"]["KeyId"]
        key_b = self.kms.create_key()["KeyMetadata"]["KeyId"]
        kms, _ = self.new_user("encrypt-only", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": self.key_arn(key_a)}]})
        blob = kms.encrypt(KeyId=key_a, Plaintext=b"secret")["CiphertextBlob"]
        message = self.assertDenied(kms.encrypt, KeyId=key_b, Plaintext=b"secret")
        self.assertEqual(message, f"User: {user_arn('encrypt-only')} is not authorized to perform: "
                                  f"kms:Encrypt on resource: {self.key_arn(key_b)} because no "
                                  "identity-based policy allows the kms:Encrypt action")
        self.assertDenied(kms.decrypt, CiphertextBlob=blob)
        self.assertDenied(kms.create_key)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"secret")

    def test_a_user_allowed_directly_by_a_key_policy_with_an_encryption_context_condition(self):
        kms, _ = self.new_user("direct")
        key = self.kms.create_key(Policy=policy(ROOT_STATEMENT, {
            "Sid": "direct user, tenant 7 only", "Effect": "Allow",
            "Principal": {"AWS": user_arn("direct")},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "7"}}}))["KeyMetadata"]["KeyId"]
        data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext={"tenant": "7"})
        plain = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext={"tenant": "7"})
        self.assertEqual(plain["Plaintext"], data_key["Plaintext"])
        message = self.assertDenied(kms.generate_data_key, KeyId=key, KeySpec="AES_256",
                                    EncryptionContext={"tenant": "8"})
        # The key policy delegates to the account, so what is missing is an identity-policy Allow.
        self.assertIn("because no identity-based policy allows the kms:GenerateDataKey action", message)
        self.assertDenied(kms.generate_data_key, KeyId=key, KeySpec="AES_256")
        other = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertDenied(kms.generate_data_key, KeyId=other, KeySpec="AES_256",
                          EncryptionContext={"tenant": "7"})

    def test_an_explicit_deny_in_the_key_policy_beats_an_identity_allow(self):
        kms, _ = self.new_user("denied", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
        key = self.kms.create_key(Policy=policy(ROOT_STATEMENT, {
            "Effect": "Deny", "Principal": {"AWS": user_arn("denied")},
            "Action": "kms:Decrypt", "Resource": "*"}))["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
        message = self.assertDenied(kms.decrypt, CiphertextBlob=blob)
        self.assertEqual(message, f"User: {user_arn('denied')} is not authorized to perform: "
                                  f"kms:Decrypt on resource: {self.key_arn(key)} with an explicit "
                                  "deny in a resource-based policy")

    def test_key_policy_round_trip_and_the_lockout_check(self):
        key = self.kms.create_key()["KeyMetadata"]["KeyId"]
        default = json.loads(self.kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
        self.assertEqual(default["Statement"][0]["Principal"], {"AWS": ROOT_ARN})
        self.assertEqual(self.kms.list_key_policies(KeyId=key)["PolicyNames"], ["default"])
        self.new_user("key-user")
        lockout = policy({"Effect": "Allow", "Principal": {"AWS": user_arn("key-user")},
                          "Action": "kms:Encrypt", "Resource": "*"})
        error = self.assertAwsError("MalformedPolicyDocumentException", self.kms.put_key_policy,
                                    KeyId=key, PolicyName="default", Policy=lockout)
        self.assertIn("will not allow you to update the key policy", error.response["Error"]["Message"])
        self.assertEqual(json.loads(self.kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]),
                         default)
        self.assertAwsError("MalformedPolicyDocumentException", self.kms.put_key_policy,
                            KeyId=key, PolicyName="default", Policy='{"Statement": "nope"')
        self.kms.put_key_policy(KeyId=key, PolicyName="default", Policy=lockout,
                                BypassPolicyLockoutSafetyCheck=True)
        # Bound by the key policy: even the root is now locked out of this key, reads included.
        self.assertDenied(self.kms.get_key_policy, KeyId=key, PolicyName="default")
        self.assertDenied(self.kms.describe_key, KeyId=key)

    # --- grants

    def test_a_grant_used_by_token_then_retired_and_another_revoked(self):
        key = self.kms.create_key()["KeyMetadata"]["KeyId"]
        grantee, grantee_keys = self.new_user("grantee")
        retirer, _ = self.new_user("retirer")
        self.assertDenied(grantee.encrypt, KeyId=key, Plaintext=b"x")
        grant = self.kms.create_grant(KeyId=key, GranteePrincipal=user_arn("grantee"),
                                      RetiringPrincipal=user_arn("retirer"),
                                      Operations=["Encrypt", "Decrypt"],
                                      Constraints={"EncryptionContextSubset": {"app": "billing"}})
        blob = grantee.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": "billing"},
                               GrantTokens=[grant["GrantToken"]])["CiphertextBlob"]
        self.assertDenied(grantee.encrypt, KeyId=key, Plaintext=b"x", EncryptionContext={"app": "other"})
        listed = self.kms.list_grants(KeyId=key)["Grants"]
        self.assertEqual([g["GrantId"] for g in listed], [grant["GrantId"]])
        self.assertEqual(listed[0]["GranteePrincipal"], user_arn("grantee"))
        retirer.retire_grant(GrantToken=grant["GrantToken"])
        self.assertEqual(self.kms.list_grants(KeyId=key)["Grants"], [])
        self.assertDenied(grantee.decrypt, CiphertextBlob=blob, EncryptionContext={"app": "billing"})

        second = self.kms.create_grant(KeyId=key, GranteePrincipal=user_arn("grantee"),
                                       Operations=["Encrypt"])
        grantee.encrypt(KeyId=key, Plaintext=b"y")
        self.kms.revoke_grant(KeyId=key, GrantId=second["GrantId"])
        self.assertDenied(grantee.encrypt, KeyId=key, Plaintext=b"y")
        self.assertAwsError("InvalidGrantTokenException", grantee.encrypt, KeyId=key, Plaintext=b"y",
                            GrantTokens=["not-a-grant-token"])

    # --- roles and sessions

    def test_a_role_assumed_and_used_and_a_tampered_token_refused(self):
        key = self.kms.create_key()["KeyMetadata"]["KeyId"]
        _, keys = self.new_user("assumer")
        trust = policy({"Effect": "Allow", "Principal": {"AWS": user_arn("assumer")},
                        "Action": "sts:AssumeRole"})
        role = self.iam.create_role(RoleName="encryptor", AssumeRolePolicyDocument=trust)["Role"]
        self.iam.put_role_policy(RoleName="encryptor", PolicyName="use-key", PolicyDocument=policy(
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": self.key_arn(key)}))
        sts = self.server.client(*keys, service="sts")
        assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="job-42", DurationSeconds=900)
        credentials = assumed["Credentials"]
        self.assertTrue(credentials["AccessKeyId"].startswith("ASIA"))
        session_arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/encryptor/job-42"
        self.assertEqual(assumed["AssumedRoleUser"]["Arn"], session_arn)
        session = (credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"])
        kms = self.server.client(session[0], session[1], session_token=session[2])
        blob = kms.encrypt(KeyId=key, Plaintext=b"from a role")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"from a role")
        me = self.server.client(session[0], session[1], session_token=session[2],
                                service="sts").get_caller_identity()
        self.assertEqual(me["Arn"], session_arn)
        self.assertDenied(kms.generate_data_key, KeyId=key, KeySpec="AES_256")

        token = session[2]
        flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
        tampered = self.server.client(session[0], session[1], session_token=flipped)
        self.assertAwsError("UnrecognizedClientException", tampered.encrypt, KeyId=key, Plaintext=b"x")
        no_token = self.server.client(session[0], session[1])
        self.assertAwsError("UnrecognizedClientException", no_token.encrypt, KeyId=key, Plaintext=b"x")

        # A user the trust policy does not name cannot assume the role.
        _, stranger = self.new_user("stranger")
        with self.assertRaises(self.sts.exceptions.ClientError) as raised:
            self.server.client(*stranger, service="sts").assume_role(
                RoleArn=role["Arn"], RoleSessionName="nope")
        self.assertEqual(raised.exception.response["Error"]["Code"], "AccessDenied")

    # --- credentials refused

    def test_a_deactivated_and_a_deleted_access_key_are_refused(self):
        kms, keys = self.new_user("rotating", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]})
        kms.list_keys()
        self.iam.update_access_key(UserName="rotating", AccessKeyId=keys[0], Status="Inactive")
        self.assertAwsError("UnrecognizedClientException", kms.list_keys)
        self.iam.update_access_key(UserName="rotating", AccessKeyId=keys[0], Status="Active")
        kms.list_keys()
        self.iam.delete_access_key(UserName="rotating", AccessKeyId=keys[0])
        self.assertAwsError("UnrecognizedClientException", kms.list_keys)

    # --- the aws CLI with profiles

    def test_the_aws_cli_with_profiles(self):
        key = self.kms.create_key()["KeyMetadata"]["KeyId"]
        made = self.server.aws_profiles({}, "iam", "create-user", "--user-name", "cli-user")
        self.assertEqual(made["User"]["Arn"], user_arn("cli-user"))
        self.server.aws_profiles({}, "iam", "put-user-policy", "--user-name", "cli-user",
                                 "--policy-name", "enc", "--policy-document", policy(
                                     {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": self.key_arn(key)}))
        access = self.server.aws_profiles({}, "iam", "create-access-key", "--user-name", "cli-user")["AccessKey"]
        profiles = {"cli": (access["AccessKeyId"], access["SecretAccessKey"])}
        me = self.server.aws_profiles(profiles, "sts", "get-caller-identity", profile="cli")
        self.assertEqual(me["Arn"], user_arn("cli-user"))
        out = self.server.aws_profiles(profiles, "kms", "encrypt", "--key-id", key, "--plaintext",
                                       base64.b64encode(b"hi").decode(), profile="cli")
        self.assertEqual(out["KeyId"], self.key_arn(key))
        code, _, stderr = self.server.aws_profiles(profiles, "kms", "create-key", profile="cli", check=False)
        self.assertNotEqual(code, 0)
        self.assertIn("AccessDeniedException", stderr)
        listed = self.server.aws_profiles({}, "iam", "list-users")["Users"]
        self.assertIn(user_arn("cli-user"), [u["Arn"] for u in listed])

    # --- the audit trail

    def test_the_audit_trail_knows_who(self):
        key = self.kms.create_key()["KeyMetadata"]["KeyId"]
        kms, keys = self.new_user("audited", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": self.key_arn(key)}]})
        kms.encrypt(KeyId=key, Plaintext=b"x")
        self.assertDenied(kms.decrypt, CiphertextBlob=self.kms.encrypt(KeyId=key, Plaintext=b"y")["CiphertextBlob"])
        records = self.query("--principal", user_arn("audited"))
        by_event = {}
        for record in records:
            by_event.setdefault(record["eventName"], []).append(record)
        encrypt = by_event["Encrypt"][0]
        self.assertEqual(encrypt["userIdentity"]["type"], "IAMUser")
        self.assertEqual(encrypt["userIdentity"]["userName"], "audited")
        self.assertEqual(encrypt["userIdentity"]["accessKeyId"], keys[0])
        denied = by_event["Decrypt"][0]
        self.assertEqual(denied["errorCode"], "AccessDeniedException")
        created = [r for r in self.query("--event", "CreateUser") if r["requestParameters"]["userName"] == "audited"]
        self.assertEqual(created[0]["eventSource"], "iam.amazonaws.com")
        # No secret access key of any user is anywhere in the trail.
        trail = "".join(open(path).read() for path in glob.glob(os.path.join(self.server.data_dir, "audit", "trail-*")))
        for _, secret in self.users.values():
            self.assertNotIn(secret, trail)

    def query(self, *args):
        result = subprocess.run([KMSD_BINARY, "audit", "query", "--data-dir", self.server.data_dir, *args],
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


if __name__ == "__main__":
    unittest.main()
