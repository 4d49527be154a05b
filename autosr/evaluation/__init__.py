"""AutoSR evaluation: ``evaluate_model`` / ``compare_folders`` (``evaluate.py``).

``metrics`` (PSNR, SSIM, NRMSE), ``engine`` (per-slice scoring), ``report`` (CSV, JSON, table),
``plots`` (figures), ``perceptual`` (optional FID/LPIPS). See documentation/evaluation.md.
"""
