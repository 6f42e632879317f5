"""Operations: the local stack, backups and drills, and the validation suite."""
