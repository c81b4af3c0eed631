"""IAM and STS at kmsd's endpoint, driven by the real clients (boto3 and the aws CLI with
profiles): users, access keys, inline policies, roles, AssumeRole and the sessions it issues, the
refusals a client sees, and secrets that appear in one answer and nowhere on disk."""
import json
import os
import unittest

from kmsd_harness import ACCOUNT_ID, KmsdServer, KmsdTestCase

TRUST_ACCOUNT = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
    "Action": "sts:AssumeRole"}]})


def allow(*actions, resource="*"):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(actions), "Resource": resource}]})


class IamAndSts(KmsdTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.iam = cls.server.client(service="iam")
        cls.sts = cls.server.client(service="sts")

    def new_user(self, name, policy=None):
        """Creates a user with an access key (and an inline policy); returns (id, secret)."""
        self.iam.create_user(UserName=name)
        if policy:
            self.iam.put_user_policy(UserName=name, PolicyName="access", PolicyDocument=policy)
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def as_user(self, keys, service):
        return self.server.client(service=service, access_key=keys[0], secret_key=keys[1])

    def test_root_is_the_account_root(self):
        identity = self.sts.get_caller_identity()
        self.assertEqual(identity["Arn"], f"arn:aws:iam::{ACCOUNT_ID}:root")
        self.assertEqual(identity["Account"], ACCOUNT_ID)

    def test_user_lifecycle_with_boto3(self):
        created = self.iam.create_user(UserName="lifecycle", Path="/team/",
                                       Tags=[{"Key": "team", "Value": "blue"}])["User"]
        self.assertEqual(created["Arn"], f"arn:aws:iam::{ACCOUNT_ID}:user/team/lifecycle")
        self.assertTrue(created["UserId"].startswith("AIDA"))
        got = self.iam.get_user(UserName="lifecycle")["User"]
        self.assertEqual(got["Tags"], [{"Key": "team", "Value": "blue"}])
        names = [u["UserName"] for u in self.iam.list_users(PathPrefix="/team/")["Users"]]
        self.assertEqual(names, ["lifecycle"])
        self.iam.delete_user(UserName="lifecycle")
        self.assertAwsError("NoSuchEntity", self.iam.get_user, UserName="lifecycle")

    def test_paginators_walk_every_user(self):
        for i in range(5):
            self.iam.create_user(UserName=f"paged{i}", Path="/paged/")
        pages = self.iam.get_paginator("list_users").paginate(
            PathPrefix="/paged/", PaginationConfig={"PageSize": 2})
        names = [u["UserName"] for page in pages for u in page["Users"]]
        self.assertEqual(names, [f"paged{i}" for i in range(5)])

    def test_errors_are_iams(self):
        self.iam.create_user(UserName="twice")
        self.assertAwsError("EntityAlreadyExists", self.iam.create_user, UserName="TWICE")
        self.iam.create_access_key(UserName="twice")
        self.iam.create_access_key(UserName="twice")
        self.assertAwsError("LimitExceeded", self.iam.create_access_key, UserName="twice")
        self.assertAwsError("DeleteConflict", self.iam.delete_user, UserName="twice")
        self.assertAwsError("MalformedPolicyDocument", self.iam.put_user_policy, UserName="twice",
                            PolicyName="p", PolicyDocument='{"Statement": "nope"}')
        unchecked = self.server.client(service="iam", validate=False)
        error = self.assertAwsError("ValidationError", unchecked.create_user, UserName="no spaces")
        self.assertIn("userName", error.response["Error"]["Message"])
        self.assertEqual(error.response["ResponseMetadata"]["HTTPStatusCode"], 400)

    def test_inline_policies_come_back_as_documents(self):
        self.iam.create_user(UserName="policies")
        document = allow("kms:Encrypt")
        self.iam.put_user_policy(UserName="policies", PolicyName="enc", PolicyDocument=document)
        got = self.iam.get_user_policy(UserName="policies", PolicyName="enc")
        self.assertEqual(got["PolicyDocument"], json.loads(document))
        self.assertEqual(self.iam.list_user_policies(UserName="policies")["PolicyNames"], ["enc"])
        self.iam.delete_user_policy(UserName="policies", PolicyName="enc")
        self.assertAwsError("NoSuchEntity", self.iam.get_user_policy, UserName="policies",
                            PolicyName="enc")

    def test_a_user_may_do_what_its_policy_allows(self):
        keys = self.new_user("reader", allow("iam:GetUser", "iam:ListUsers"))
        iam = self.as_user(keys, "iam")
        self.assertEqual(iam.get_user()["User"]["UserName"], "reader")
        iam.list_users()
        error = self.assertAwsError("AccessDenied", iam.create_user, UserName="nope")
        self.assertIn("is not authorized to perform: iam:CreateUser",
                      error.response["Error"]["Message"])
        self.assertEqual(error.response["ResponseMetadata"]["HTTPStatusCode"], 403)

    def test_an_admin_user_made_with_the_cli_manages_users(self):
        self.server.aws_profiles({}, "iam", "create-user", "--user-name", "admin")
        self.server.aws_profiles({}, "iam", "put-user-policy", "--user-name", "admin",
                                 "--policy-name", "all", "--policy-document", allow("iam:*"))
        key = self.server.aws_profiles({}, "iam", "create-access-key",
                                       "--user-name", "admin")["AccessKey"]
        profiles = {"admin": (key["AccessKeyId"], key["SecretAccessKey"])}
        made = self.server.aws_profiles(profiles, "iam", "create-user", "--user-name",
                                        "made-by-admin", profile="admin")
        self.assertEqual(made["User"]["UserName"], "made-by-admin")
        who = self.server.aws_profiles(profiles, "sts", "get-caller-identity", profile="admin")
        self.assertEqual(who["Arn"], f"arn:aws:iam::{ACCOUNT_ID}:user/admin")

    def test_a_deactivated_and_a_deleted_access_key_are_refused(self):
        keys = self.new_user("keys")
        sts = self.as_user(keys, "sts")
        sts.get_caller_identity()
        self.iam.update_access_key(UserName="keys", AccessKeyId=keys[0], Status="Inactive")
        self.assertAwsError("InvalidClientTokenId", sts.get_caller_identity)
        self.iam.update_access_key(UserName="keys", AccessKeyId=keys[0], Status="Active")
        sts.get_caller_identity()
        self.iam.delete_access_key(UserName="keys", AccessKeyId=keys[0])
        self.assertAwsError("InvalidClientTokenId", sts.get_caller_identity)
        code, _, stderr = self.server.aws_profiles({"gone": keys}, "sts", "get-caller-identity",
                                                   profile="gone", check=False)
        self.assertNotEqual(code, 0)
        self.assertIn("(InvalidClientTokenId)", stderr)

    def test_a_role_assumed_and_used(self):
        keys = self.new_user("assumer", allow("sts:AssumeRole"))
        role = self.iam.create_role(RoleName="worker", AssumeRolePolicyDocument=TRUST_ACCOUNT,
                                    MaxSessionDuration=7200)["Role"]
        self.assertEqual(json.loads(json.dumps(role["AssumeRolePolicyDocument"])),
                         json.loads(TRUST_ACCOUNT))
        self.iam.put_role_policy(RoleName="worker", PolicyName="read",
                                 PolicyDocument=allow("iam:GetRole"))
        assumed = self.as_user(keys, "sts").assume_role(
            RoleArn=role["Arn"], RoleSessionName="job-1", DurationSeconds=7200)
        credentials = assumed["Credentials"]
        self.assertTrue(credentials["AccessKeyId"].startswith("ASIA"))
        self.assertEqual(assumed["AssumedRoleUser"]["Arn"],
                         f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/worker/job-1")
        session = (credentials["AccessKeyId"], credentials["SecretAccessKey"],
                   credentials["SessionToken"])
        sts = self.server.client(service="sts", access_key=session[0], secret_key=session[1],
                                 session_token=session[2])
        self.assertEqual(sts.get_caller_identity()["Arn"], assumed["AssumedRoleUser"]["Arn"])
        iam = self.server.client(service="iam", access_key=session[0], secret_key=session[1],
                                 session_token=session[2])
        self.assertEqual(iam.get_role(RoleName="worker")["Role"]["RoleName"], "worker")
        self.assertAwsError("AccessDenied", iam.list_users)
        who = self.server.aws_profiles({"session": session}, "sts", "get-caller-identity",
                                       profile="session")
        self.assertEqual(who["Arn"], assumed["AssumedRoleUser"]["Arn"])

        self.assertAwsError("ValidationError", self.as_user(keys, "sts").assume_role,
                            RoleArn=role["Arn"], RoleSessionName="too-long",
                            DurationSeconds=7201)
        # A role deleted takes its sessions with it.
        self.iam.delete_role_policy(RoleName="worker", PolicyName="read")
        self.iam.delete_role(RoleName="worker")
        self.assertAwsError("InvalidClientTokenId", sts.get_caller_identity)

    def test_a_trust_policy_that_names_someone_else_denies(self):
        keys = self.new_user("outsider", allow("sts:AssumeRole"))
        self.assertAwsError("MalformedPolicyDocument", self.iam.create_role, RoleName="nobodys",
                            AssumeRolePolicyDocument=TRUST_ACCOUNT.replace(":root", ":user/nobody"))
        self.iam.create_user(UserName="someone-else")
        trust = TRUST_ACCOUNT.replace(":root", ":user/someone-else")
        role = self.iam.create_role(RoleName="private", AssumeRolePolicyDocument=trust)["Role"]
        error = self.assertAwsError("AccessDenied", self.as_user(keys, "sts").assume_role,
                                    RoleArn=role["Arn"], RoleSessionName="s1")
        self.assertIn("sts:AssumeRole", error.response["Error"]["Message"])
        self.assertAwsError("AccessDenied", self.sts.assume_role, RoleArn=role["Arn"],
                            RoleSessionName="root-tries")

    def test_external_id_is_checked(self):
        keys = self.new_user("partner", allow("sts:AssumeRole"))
        trust = json.loads(TRUST_ACCOUNT)
        trust["Statement"][0]["Condition"] = {"StringEquals": {"sts:ExternalId": "partner-42"}}
        role = self.iam.create_role(RoleName="partner-role",
                                    AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        sts = self.as_user(keys, "sts")
        self.assertAwsError("AccessDenied", sts.assume_role, RoleArn=role["Arn"],
                            RoleSessionName="s1")
        self.assertAwsError("AccessDenied", sts.assume_role, RoleArn=role["Arn"],
                            RoleSessionName="s1", ExternalId="partner-41")
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1", ExternalId="partner-42")

    def test_a_tampered_session_token_is_refused(self):
        keys = self.new_user("tamperer", allow("sts:AssumeRole"))
        role = self.iam.create_role(RoleName="tampered", AssumeRolePolicyDocument=TRUST_ACCOUNT)
        credentials = self.as_user(keys, "sts").assume_role(
            RoleArn=role["Role"]["Arn"], RoleSessionName="s1")["Credentials"]
        token = credentials["SessionToken"]
        altered = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
        for bad in (altered, token[:-8], "x" + token):
            sts = self.server.client(service="sts", access_key=credentials["AccessKeyId"],
                                     secret_key=credentials["SecretAccessKey"], session_token=bad)
            self.assertAwsError("InvalidClientTokenId", sts.get_caller_identity)
        # The key without its token is not a credential at all.
        bare = self.server.client(service="sts", access_key=credentials["AccessKeyId"],
                                  secret_key=credentials["SecretAccessKey"])
        self.assertAwsError("InvalidClientTokenId", bare.get_caller_identity)


class IamAcrossRestarts(unittest.TestCase):
    def test_users_keys_roles_and_sessions_survive_and_secrets_stay_off_disk(self):
        with KmsdServer() as server:
            iam = server.client(service="iam")
            iam.create_user(UserName="durable")
            iam.put_user_policy(UserName="durable", PolicyName="p",
                                PolicyDocument=allow("sts:AssumeRole"))
            key = iam.create_access_key(UserName="durable")["AccessKey"]
            role = iam.create_role(RoleName="durable-role",
                                   AssumeRolePolicyDocument=TRUST_ACCOUNT)["Role"]
            user_sts = server.client(service="sts", access_key=key["AccessKeyId"],
                                     secret_key=key["SecretAccessKey"])
            credentials = user_sts.assume_role(RoleArn=role["Arn"],
                                               RoleSessionName="s1")["Credentials"]
            server.restart()
            user_sts = server.client(service="sts", access_key=key["AccessKeyId"],
                                     secret_key=key["SecretAccessKey"])
            self.assertTrue(user_sts.get_caller_identity()["Arn"].endswith(":user/durable"))
            session = server.client(service="sts", access_key=credentials["AccessKeyId"],
                                    secret_key=credentials["SecretAccessKey"],
                                    session_token=credentials["SessionToken"])
            self.assertIn("assumed-role/durable-role/s1", session.get_caller_identity()["Arn"])
            server.stop()
            secrets = [key["SecretAccessKey"].encode(), credentials["SecretAccessKey"].encode(),
                       credentials["SessionToken"].encode()]
            for directory, _, files in os.walk(server.data_dir):
                for name in files:
                    with open(os.path.join(directory, name), "rb") as f:
                        content = f.read()
                    for secret in secrets:
                        self.assertNotIn(secret, content, os.path.join(directory, name))


if __name__ == "__main__":
    unittest.main()
