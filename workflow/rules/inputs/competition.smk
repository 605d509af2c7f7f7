# Input mode `competition`: the competition files under data_dir. Delivers the submission; the test cells'
# targets are not public, so nothing is scored.

DATA = config["data_dir"]
# Checked where present (the competition's later file sets may lack it).
SAMPLE_SUBMISSION = os.path.exists(os.path.join(DATA, "sample_submission.csv"))
SCORED = []
SCORE_INPUTS = {}
SCORE_PARAMS = {}


include: "competition_format.smk"
