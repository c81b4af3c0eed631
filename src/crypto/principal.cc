// The account root principal: the one identity every kmsd has from its first start.
#include "kmsd/principal.h"

#include "kmsd/strings.h"

namespace kmsd {

Principal RootPrincipal(const std::string& account_id, const std::string& access_key_id) {
  Principal root;
  root.kind = PrincipalType::kRoot;
  root.type = "Root";
  root.principal_id = account_id;
  root.arn = StrCat("arn:aws:iam::", account_id, ":root");
  root.account_id = account_id;
  root.access_key_id = access_key_id;
  return root;
}

}  // namespace kmsd
