"""AutoSR: self-configuring arbitrary-scale super-resolution for medical images.

``planners/`` and ``dataset_conversion/`` live at the top of the repository (our user fixed
the layout) but are installed as ``autosr.planners`` and ``autosr.dataset_conversion`` through
``package_dir``, so nothing is added to the global import namespace.
"""
from setuptools import setup

COMMANDS = {
    "autosr_convert": "autosr.commands.convert:main",
    "autosr_verify_dataset": "autosr.commands.convert:verify_main",
    "autosr_plan_and_preprocess": "autosr.commands.plan:main",
    "autosr_extract_fingerprint": "autosr.commands.plan:fingerprint_main",
    "autosr_plan_experiment": "autosr.commands.plan:plan_main",
    "autosr_preprocess": "autosr.commands.plan:preprocess_main",
    "autosr_train": "autosr.commands.train:main",
    "autosr_predict": "autosr.commands.predict:main",
    "autosr_evaluate": "autosr.commands.evaluate:main",
    "autosr_benchmark": "autosr.commands.benchmark:main",
    "autosr_demo": "autosr.commands.demo:main",
    "autosr_export_model": "autosr.commands.models:export_main",
    "autosr_install_model": "autosr.commands.models:install_main",
    "autosr_list_models": "autosr.commands.models:list_main",
}

setup(
    name="autosr",
    version="0.1.0",
    description="nnU-Net for super-resolution: self-configuring arbitrary-scale (1, 4] SR of MRI and CT",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=[
        "autosr",
        "autosr.degradation",
        "autosr.imageio",
        "autosr.commands",
        "autosr.networks",
        "autosr.training",
        "autosr.inference",
        "autosr.evaluation",
        "autosr.models",
        "autosr.preprocessing",
        "autosr.planners",
        "autosr.dataset_conversion",
    ],
    # the built-in models (a zip and its model card each), found by autosr.inference.model_package
    package_data={"autosr": ["models/builtin/*.zip", "models/builtin/*.md"]},
    package_dir={
        "autosr": "autosr",
        "autosr.planners": "planners",
        "autosr.dataset_conversion": "dataset_conversion",
    },
    install_requires=[
        # torch is pinned by scripts/setup_env.sh when missing (an unpinned torch pulls CUDA).
        "torch>=2.1",
        "SimpleITK>=2.2",
        "nibabel>=5.0",
        "batchgenerators>=0.25",
        "numpy>=1.24",
        "scikit-image>=0.21",
        "pandas>=2.0",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "scipy>=1.10",  # autosr/cropping.py (binary morphology); also a dependency of scikit-image
    ],
    extras_require={"test": ["pytest>=7"]},
    entry_points={"console_scripts": [f"{k}={v}" for k, v in COMMANDS.items()]},
)
