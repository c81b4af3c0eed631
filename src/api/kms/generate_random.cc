// GenerateRandom: bytes from the OS CSPRNG.
#include "api/kms/common.h"
#include "api/kms/operations.h"
#include "kmsd/errors.h"

namespace kmsd::api {

absl::StatusOr<std::string> GenerateRandom(OperationContext& context, RequestReader& request) {
  auto number_of_bytes = request.Integer("NumberOfBytes", 1, 1024, /*required=*/false);
  bool custom_store = request.String("CustomKeyStoreId", StringRule{1, 64}).has_value();
  if (auto status = request.Finish(); !status.ok()) return status;
  // Optional in the model, required by the service, in AWS's words.
  if (!number_of_bytes) return Validation("NumberOfBytes is required.");
  if (custom_store) return NoCustomKeyStores();
  if (auto status = RefuseRecipient(request); !status.ok()) return status;
  auto random = context.service.GenerateRandom(context.call, static_cast<size_t>(*number_of_bytes));
  if (!random.ok()) return random.status();
  JsonWriter writer;
  writer.BeginObject().Blob("Plaintext", *random);
  return writer.EndObject().Take();
}

}  // namespace kmsd::api
