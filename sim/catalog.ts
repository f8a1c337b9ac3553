// Static vocabularies for the generated lab: the 16 assay labels qbsync's metrics count, and the word lists
// that give records plausible names. Kept apart from the generator so the numbers there stay readable.

export interface AssayDef {
  label: string;
  title: string;
  /** Typical bench time in hours, start to complete (microbial plates take days, moisture minutes). */
  hours: number;
  /** Relative popularity when a sample's panel is drawn. */
  weight: number;
}

/** The 16 labels (qbench-api.md §4 "Labels DL counts"); assay id = index + 1. */
export const ASSAYS: readonly AssayDef[] = [
  { label: 'CN', title: 'Cannabinoids (HPLC)', hours: 6, weight: 30 },
  { label: 'MB', title: 'Microbials (qPCR)', hours: 24, weight: 18 },
  { label: 'TP', title: 'Terpenes (GC-MS)', hours: 8, weight: 12 },
  { label: 'MY', title: 'Mycotoxins (LC-MS/MS)', hours: 10, weight: 8 },
  { label: 'HM', title: 'Heavy Metals (ICP-MS)', hours: 12, weight: 8 },
  { label: 'FFM', title: 'Filth and Foreign Material', hours: 1, weight: 6 },
  { label: 'HO', title: 'Homogeneity', hours: 8, weight: 3 },
  { label: 'HLVd', title: 'Hop Latent Viroid (RT-qPCR)', hours: 20, weight: 3 },
  { label: 'MC', title: 'Moisture Content', hours: 2, weight: 7 },
  { label: 'PS', title: 'Pesticides (LC-MS/MS)', hours: 12, weight: 9 },
  { label: 'PN', title: 'Pathogens (Salmonella / STEC)', hours: 24, weight: 4 },
  { label: 'RS', title: 'Residual Solvents (GC-HS)', hours: 6, weight: 6 },
  { label: 'ST', title: 'Stability', hours: 4, weight: 2 },
  { label: 'SP', title: 'Sample Prep', hours: 2, weight: 2 },
  { label: 'WA', title: 'Water Activity', hours: 2, weight: 7 },
  { label: 'YM', title: 'Yeast and Mold (plate count)', hours: 48, weight: 6 },
];

export const ASSAY_WEIGHTS: readonly number[] = ASSAYS.map((a) => a.weight);

export const ACCESSIONING_TYPES: readonly { id: number; value: string; weight: number }[] = [
  { id: 1, value: 'Adult Use', weight: 45 },
  { id: 2, value: 'Medical MJ', weight: 24 },
  { id: 3, value: 'AU Cliente R&D', weight: 15 },
  { id: 4, value: 'R&D', weight: 8 },
  { id: 5, value: 'Hemp', weight: 5 },
  { id: 6, value: 'Proficiency Test', weight: 3 },
];

export const MATRIX_TYPES: readonly string[] = [
  'Cured Flower/Kief',
  'Cured Flower/Kief',
  'Cured Flower/Kief',
  'Concentrate',
  'Concentrate',
  'CIP-edible',
  'Infused Pre-Roll',
  'Vape Cartridge',
  'Tincture',
  'Topical',
  'Beverage',
];

export const STRAINS: readonly string[] = [
  'Blue Dream', 'OG Kush', 'Gelato', 'Wedding Cake', 'Sour Diesel', 'Girl Scout Cookies', 'Gorilla Glue',
  'Zkittlez', 'Runtz', 'Pineapple Express', 'Jack Herer', 'Granddaddy Purple', 'Northern Lights',
  'Durban Poison', 'Green Crack', 'Purple Punch', 'Ice Cream Cake', 'Mimosa', 'Lemon Haze', 'Biscotti',
];

export const PRODUCT_FORMS: readonly string[] = [
  'Flower', 'Smalls', 'Shake', 'Live Resin', 'Rosin', 'Shatter', 'Gummies', 'Pre-Roll 1g', 'Cart 0.5g', 'Tincture 30ml',
];

export const NAME_FIRST: readonly string[] = [
  'Green', 'Emerald', 'High', 'Golden', 'North', 'Pacific', 'Sun', 'Blue', 'Sierra', 'Cascade', 'Mountain',
  'River', 'Valley', 'Canna', 'Herbal', 'Elevated', 'Pure', 'Verde', 'Frosty', 'Evergreen', 'Coastal',
  'Desert', 'Harbor', 'Summit', 'Wild', 'Urban', 'Redwood', 'Silver', 'Prairie', 'Lakeside',
];

export const NAME_SECOND: readonly string[] = [
  'Farms', 'Gardens', 'Labs', 'Cultivation', 'Collective', 'Extracts', 'Botanicals', 'Growers', 'Wellness',
  'Dispensary', 'Harvest', 'Organics', 'Cannabis Co', 'Naturals', 'Remedies', 'Craft', 'Ventures',
];

export const NAME_SUFFIX: readonly string[] = ['LLC', 'Inc.', 'Co.', '', '', 'Corp', 'Group', 'Holdings LLC'];

/** A few names that begin in lower case or with a digit, so the case-insensitive default sort matters. */
export const ODD_NAMES: readonly string[] = [
  'dr. greenthumb labs', 'el verde farms', '420 Growers Alliance', 'mom & pop cannabis', 'the herb house', 'iGrow Systems',
];

export const STREETS: readonly string[] = ['Main St', 'Oak Ave', 'Industrial Way', 'Commerce Blvd', 'Market St', 'Pine Rd', 'Harbor Dr'];
export const CITIES: readonly string[] = ['Sacramento, CA', 'Denver, CO', 'Portland, OR', 'Seattle, WA', 'Ann Arbor, MI', 'Las Vegas, NV', 'Boston, MA'];

export const TECHS: readonly { id: number; name: string }[] = [
  { id: 11, name: 'Ana Torres' },
  { id: 12, name: 'Ben Okafor' },
  { id: 13, name: 'Carla Ruiz' },
  { id: 14, name: 'Dev Patel' },
  { id: 15, name: 'Elena Novak' },
  { id: 16, name: 'Felix Chen' },
  { id: 17, name: 'Grace Kim' },
  { id: 18, name: 'Hugo Silva' },
];
