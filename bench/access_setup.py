"""Sets up the authorization benchmark (bench/run_bench.sh): an IAM user with no identity policy,
whose only access to each key is a key-policy statement with an encryption-context condition.
Prints "ACCESS_KEY_ID SECRET_ACCESS_KEY" of the user. Credentials of the root come from the
environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION)."""
import json
import sys

import boto3

endpoint, keys_file = sys.argv[1], sys.argv[2]
region = "us-east-1"
iam = boto3.client("iam", endpoint_url=endpoint, region_name=region)
kms = boto3.client("kms", endpoint_url=endpoint, region_name=region)
user = iam.create_user(UserName="bench-user")["User"]
access_key = iam.create_access_key(UserName="bench-user")["AccessKey"]
account = user["Arn"].split(":")[4]
for key_id in open(keys_file).read().split():
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Bench user, purpose=bench only", "Effect": "Allow",
             "Principal": {"AWS": user["Arn"]},
             "Action": ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
             "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:purpose": "bench"}}},
        ],
    }
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy))
print(access_key["AccessKeyId"], access_key["SecretAccessKey"])
