"""The multi-task strategies compared in the study, one file each."""
