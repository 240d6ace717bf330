"""Objects of molecule screening for tests outside this folder (the platform's URL walk)."""

from rdkit import Chem

from quorum.jobs.models import Job
from solutions.molecules.chemistry import Standardizer, analyse_molecule
from solutions.molecules.models import ResultStatus, ScreeningResult
from solutions.molecules.pipeline import alert_index

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def one_screening_result(job: Job) -> None:
    """Give a succeeded molecules job one analysed molecule (index 0): aspirin."""
    analysis = analyse_molecule(Chem.MolFromSmiles(ASPIRIN), Standardizer(False))
    ScreeningResult.objects.create(
        tenant_id=job.tenant_id, job=job, index=0, input_text=ASPIRIN, name="aspirin",
        status=ResultStatus.OK, canonical_smiles=analysis.canonical_smiles,
        inchikey=analysis.inchikey, descriptors=analysis.descriptors, rules=analysis.rules,
        alerts=analysis.alerts, alert_index=alert_index(analysis.alerts),
        fingerprint=analysis.fingerprint,
    )
