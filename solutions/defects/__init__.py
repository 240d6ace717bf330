"""Defect inspection: pass/fail, defect class, heat map and boxes for images of parts."""
