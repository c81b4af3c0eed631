// The custom key store operations. kmsd keeps every KMS key in its own keystore, behind its own
// barrier, and has no AWS CloudHSM or external key stores; the operations are authorized and
// audited like any other, then refused.
#include "service/service_impl.h"

namespace kmsd::service_internal {

absl::Status KmsServiceImpl::CustomKeyStoreOperation(const CallContext& call,
                                                     std::string_view operation) {
  // AWS's custom key store actions name no resource: IAM policies grant them on "*".
  if (auto status = AuthorizeAccountAction(call, StrCat("kms:", operation), "*"); !status.ok()) {
    return status;
  }
  return Error(ErrorType::kUnsupportedOperation,
               StrCat(operation,
                      " is not supported: kmsd has no custom key stores (AWS CloudHSM or external "
                      "key stores); every KMS key is kept in kmsd's own keystore"));
}

}  // namespace kmsd::service_internal
