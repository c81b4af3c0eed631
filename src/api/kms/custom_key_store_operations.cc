// CreateCustomKeyStore, ConnectCustomKeyStore, DisconnectCustomKeyStore, UpdateCustomKeyStore,
// DeleteCustomKeyStore and DescribeCustomKeyStores. kmsd has no custom key stores: each request
// is read with the model's constraints (a malformed one is a ValidationException, as AWS answers
// it), then the service authorizes it and answers UnsupportedOperationException. Every one is
// audited under its own eventName, like any operation in the dispatch table. The model's
// patterns (cluster ids, proxy URIs, VPC endpoint service names) are not checked, and neither
// are the members of XksProxyAuthenticationCredential: nothing is done with them.
#include "api/kms/operations.h"

namespace kmsd::api {
namespace {

constexpr StringRule kCustomKeyStoreIdRule{1, 64};
constexpr StringRule kCustomKeyStoreNameRule{1, 256};
constexpr StringRule kCloudHsmClusterIdRule{19, 24};
constexpr StringRule kKeyStorePasswordRule{.min = 7, .max = 32, .sensitive = true};
const std::vector<std::string_view> kXksProxyConnectivity = {"PUBLIC_ENDPOINT",
                                                             "VPC_ENDPOINT_SERVICE"};

// The members CreateCustomKeyStore and UpdateCustomKeyStore share.
void ReadStoreSettings(RequestReader& request) {
  request.String("CloudHsmClusterId", kCloudHsmClusterIdRule);
  request.String("KeyStorePassword", kKeyStorePasswordRule);
  request.String("XksProxyUriEndpoint", StringRule{10, 128});
  request.String("XksProxyUriPath", StringRule{10, 128});
  request.String("XksProxyVpcEndpointServiceName", StringRule{20, 64});
  request.String("XksProxyVpcEndpointServiceOwner", StringRule{12, 12});
  request.Enum("XksProxyConnectivity", kXksProxyConnectivity);
}

absl::StatusOr<std::string> Refuse(OperationContext& context, RequestReader& request,
                                   std::string_view operation) {
  if (auto status = request.Finish(); !status.ok()) return status;
  return context.service.CustomKeyStoreOperation(context.call, operation);
}

// Connect, Disconnect and Delete: the store's id alone.
absl::StatusOr<std::string> ById(OperationContext& context, RequestReader& request,
                                 std::string_view operation) {
  request.String("CustomKeyStoreId", kCustomKeyStoreIdRule, /*required=*/true);
  return Refuse(context, request, operation);
}

}  // namespace

absl::StatusOr<std::string> CreateCustomKeyStore(OperationContext& context,
                                                 RequestReader& request) {
  request.String("CustomKeyStoreName", kCustomKeyStoreNameRule, /*required=*/true);
  request.String("TrustAnchorCertificate", StringRule{1, 5000});
  request.Enum("CustomKeyStoreType", {"AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"});
  ReadStoreSettings(request);
  return Refuse(context, request, "CreateCustomKeyStore");
}

absl::StatusOr<std::string> ConnectCustomKeyStore(OperationContext& context,
                                                  RequestReader& request) {
  return ById(context, request, "ConnectCustomKeyStore");
}

absl::StatusOr<std::string> DisconnectCustomKeyStore(OperationContext& context,
                                                     RequestReader& request) {
  return ById(context, request, "DisconnectCustomKeyStore");
}

absl::StatusOr<std::string> UpdateCustomKeyStore(OperationContext& context,
                                                 RequestReader& request) {
  request.String("CustomKeyStoreId", kCustomKeyStoreIdRule, /*required=*/true);
  request.String("NewCustomKeyStoreName", kCustomKeyStoreNameRule);
  ReadStoreSettings(request);
  return Refuse(context, request, "UpdateCustomKeyStore");
}

absl::StatusOr<std::string> DeleteCustomKeyStore(OperationContext& context,
                                                 RequestReader& request) {
  return ById(context, request, "DeleteCustomKeyStore");
}

absl::StatusOr<std::string> DescribeCustomKeyStores(OperationContext& context,
                                                    RequestReader& request) {
  request.String("CustomKeyStoreId", kCustomKeyStoreIdRule);
  request.String("CustomKeyStoreName", kCustomKeyStoreNameRule);
  request.Integer("Limit", 1, 1000);
  request.String("Marker", kMarkerRule);
  return Refuse(context, request, "DescribeCustomKeyStores");
}

}  // namespace kmsd::api
