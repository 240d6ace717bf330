"""Export and import of PEFT adapters: only the two PEFT files, checked against the base model."""

import io
import zipfile

import pytest
import torch

from engine.config import ModelConfig
from engine.model import MoETransformer
from quorum.adapters import services
from tests.platform.adapters.support import BASE_MODEL, base_model_dir, peft_adapter_files, zipped


def do_import(tenant, user, data: bytes):
    return services.import_adapter(tenant=tenant, user=user, solution="loans", base_model=BASE_MODEL, data=data)


def test_an_adapter_made_with_plain_peft_is_accepted_and_exports_the_same_files(tenant_a, admin_a):
    files = peft_adapter_files(seed=1)
    version = do_import(tenant_a, admin_a, zipped(files))
    assert version.imported and version.number == 1 and version.lora_options["r"] == 4
    with zipfile.ZipFile(io.BytesIO(services.export_zip(version))) as archive:
        assert sorted(archive.namelist()) == sorted(files)
        assert all(archive.read(name) == data for name, data in files.items())


def test_an_archive_with_another_file_is_refused(tenant_a, admin_a):
    files = peft_adapter_files(seed=1) | {"README.md": b"notes"}
    with pytest.raises(services.ImportRejected, match=r"README\.md"):
        do_import(tenant_a, admin_a, zipped(files))


def test_a_pickled_weights_file_is_refused(tenant_a, admin_a):
    files = peft_adapter_files(seed=1)
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(2)}, buffer)  # what a .bin adapter holds: a pickle
    files["adapter_model.safetensors"] = buffer.getvalue()
    with pytest.raises(services.ImportRejected, match="pickle"):
        do_import(tenant_a, admin_a, zipped(files))


def test_an_adapter_of_another_shape_is_refused(tenant_a, admin_a):
    config = ModelConfig.load(base_model_dir() / "config.json")
    other = MoETransformer(ModelConfig.from_dict({**config.to_dict(), "d_model": config.d_model * 2}))
    with pytest.raises(services.ImportRejected, match="do not fit"):
        do_import(tenant_a, admin_a, zipped(peft_adapter_files(seed=1, model=other)))


def test_a_missing_file_or_not_a_zip_is_refused(tenant_a, admin_a):
    files = peft_adapter_files(seed=1)
    with pytest.raises(services.ImportRejected, match="once each"):
        do_import(tenant_a, admin_a, zipped({"adapter_config.json": files["adapter_config.json"]}))
    with pytest.raises(services.ImportRejected, match="not a zip"):
        do_import(tenant_a, admin_a, b"plain bytes")
