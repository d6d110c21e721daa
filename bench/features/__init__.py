"""Self-supervised feature sets of a base dataset's training images (``albench features``), made here, found by
name by the strategies defined on them (TypiClust and ProbCover: ``features=simclr``)."""
