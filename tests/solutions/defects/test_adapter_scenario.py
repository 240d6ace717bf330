"""The scenario plant of `manage.py adapter_scenario defects`: a ZIP of one family's held-out
images with labels.csv, which the dataset upload accepts row for row."""

import csv
import io
import zipfile

from PIL import Image

from solutions.defects import adapters

LABELS = {"valid": ["blowhole", "free"], "test": ["crack", "free", "uneven"]}


def make_tile_data(root):
    folder = root / "magnetic_tile"
    (folder / "images").mkdir(parents=True)
    for split, labels in LABELS.items():
        with open(folder / f"{split}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "label"])
            for number, label in enumerate(labels):
                # The same file name in two splits, as the shipped data has across classes.
                path = folder / "images" / f"{split}-{label}" / "exp1_num_1.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("L", (40, 60), color=40 * number).save(path)
                writer.writerow([f"images/{split}-{label}/exp1_num_1.jpg", label])
    return root


def test_the_tile_plant_uploads_every_held_out_image_with_its_label(tmp_path):
    upload = adapters.scenario(make_tile_data(tmp_path), segment="magnetic-tile")
    with zipfile.ZipFile(io.BytesIO(upload["data"])) as archive:
        names = archive.namelist()
        labels = list(csv.DictReader(io.StringIO(archive.read(adapters.LABELS_FILE).decode())))
    assert len(names) == 6 and len(set(names)) == 6  # five images and labels.csv
    assert [row["label"] for row in labels] == LABELS["valid"] + LABELS["test"]
    report = adapters.parse_dataset(upload["base_model"], upload["filename"], upload["data"])
    assert report.rejected == []
    assert sorted(row["label"] for row in report.rows) == sorted(LABELS["valid"] + LABELS["test"])


def test_a_plant_with_its_own_standard_labels_uneven_tiles_good(tmp_path):
    upload = adapters.scenario(make_tile_data(tmp_path), segment="tile-uneven-passes")
    with zipfile.ZipFile(io.BytesIO(upload["data"])) as archive:
        labels = [row["label"] for row in csv.DictReader(io.StringIO(archive.read(adapters.LABELS_FILE).decode()))]
    assert labels == ["blowhole", "free", "crack", "free", "free"]
