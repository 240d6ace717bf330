"""Two tenants' rows in one batch of one ModelServer, each with its own adapter from storage."""

import threading

import torch

from engine.checkpoint import load_checkpoint
from engine.serving import ModelServer
from quorum.adapters import services, storage
from solutions.loans.features import encode
from solutions.loans.schema import FeatureSchema
from tests.platform.adapters.support import (
    BASE_MODEL,
    base_model_dir,
    peft_adapter_files,
    synthetic_rows,
    zipped,
)


def test_one_batch_serves_each_tenant_its_own_adapter_as_if_alone(tenant_a, tenant_b, admin_a, admin_b):
    versions = {
        tenant: services.import_adapter(tenant=tenant, user=user, solution="loans", base_model=BASE_MODEL,
                                        data=zipped(peft_adapter_files(seed=seed)))
        for tenant, user, seed in ((tenant_a, admin_a, 1), (tenant_b, admin_b, 2))
    }
    ids = [str(versions[tenant_a].pk), str(versions[tenant_b].pk)]
    for version_id in ids:  # fetched from storage into this machine's cache, by version id
        assert storage.resolve_adapter(version_id).name == version_id
    schema = FeatureSchema.load(base_model_dir() / "schema.json")
    batches = [encode(schema, synthetic_rows(5, seed=3)), encode(schema, synthetic_rows(7, seed=4))]

    server = ModelServer(model=load_checkpoint(base_model_dir()), max_batch_size=12, max_wait_ms=5000,
                         adapter_resolver=storage.resolve_adapter)
    with server:
        together: list = [None, None]
        threads = [
            threading.Thread(target=lambda i=i: together.__setitem__(i, server.predict(batches[i], ids[i])))
            for i in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert server.batches_run == 1  # 5 + 7 rows filled one batch of 12
    # Each alone, on a server a solution would create without a resolver: it uses the one the
    # adapters app set for the process.
    with ModelServer(model=load_checkpoint(base_model_dir()), max_wait_ms=1) as plain:
        alone = [plain.predict(batches[i], ids[i]) for i in range(2)]
        base = plain.predict(batches[0], None)
    for i in range(2):
        torch.testing.assert_close(together[i]["default"], alone[i]["default"], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(alone[0]["default"], base["default"], atol=1e-4)  # the adapter does change it
